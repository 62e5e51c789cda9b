# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The base of every declarative corral.cloud module: read, compare, write.

A concrete module says how to read the current state, what the wanted state is, and
how to write it; this base does the rest the same way for all of them:
- it writes only when the wanted state differs from the current one;
- in check mode it never writes, and reports the state it would have written;
- with --diff it shows the before and after states as text;
- a store error, a refused compare or an unreachable store ends in `fail_json` with
  one sentence naming the key and the endpoint, never a traceback; `changed` says
  whether the store was written before the failure (a wait that times out after the
  write, for one).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    CA_FILE_ENV,
    CERT_FILE_ENV,
    KEY_FILE_ENV,
    Client,
    StoreError,
    env_setting,
    url_credentials,
)
from ansible_collections.corral.cloud.plugins.module_utils.connection import (
    client_for,
    connection_argument_spec,
    describe,
)
from ansible_collections.corral.cloud.plugins.module_utils.duration import DurationError
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.open_url_transport import (
    OpenUrlTransport,
)
from ansible_collections.corral.cloud.plugins.module_utils.option_duration import option_seconds
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused


def module_transport(module: AnsibleModule) -> OpenUrlTransport:
    """open_url with the module's TLS options; those not given come from the managed
    host's environment, as for corralctl (a deprecated name there is a deprecation)."""
    params = module.params

    def env(name: str) -> str | None:
        return env_setting(
            name, lambda msg: module.deprecate(msg, version="1.0.0", collection_name="corral.cloud")
        )

    return OpenUrlTransport(
        ca_path=params.get("ca_cert") or env(CA_FILE_ENV),
        client_cert=params.get("client_cert") or env(CERT_FILE_ENV),
        client_key=params.get("client_key") or env(KEY_FILE_ENV),
        validate_certs=params.get("validate_certs", True),
    )


def module_client(module: AnsibleModule, transport: OpenUrlTransport | None = None) -> Client:
    """A client for a module, speaking through open_url. Credentials written in the
    endpoint are refused, and masked in everything the module returns (its
    invocation, shown with -vvv, included)."""
    params = module.params
    module.no_log_values.update(url_credentials(params.get("endpoint") or ""))
    try:
        return client_for(params, transport or module_transport(module))
    except StoreError as exc:
        module.fail_json(msg=str(exc))
        raise  # not reached: fail_json exits


def duration_param(module: AnsibleModule, name: str) -> None:
    """Turn option `name` (a number of seconds or a duration, as `raw`) into seconds in
    place; anything else fails the module naming the option."""
    if module.params[name] is None:
        return
    try:
        module.params[name] = option_seconds(module.params[name], name)
    except DurationError as exc:
        module.fail_json(msg=str(exc))


def store_module(argument_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the connection options added to `argument_spec`."""
    spec = connection_argument_spec()
    spec.update(argument_spec)
    return AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)


class StoreModule:
    """Subclasses implement `read`, `plan`, `write` and `render`."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.transport = module_transport(module)
        self.client = module_client(module, self.transport)

    @property
    def subject(self) -> str | None:
        """What the module manages (a key), named in error messages."""
        return None

    def read(self) -> Any:
        """The current state, or None when absent."""
        raise NotImplementedError

    def plan(self, before: Any) -> Any:
        """The wanted state given the current one; raise `Refused` to stop."""
        raise NotImplementedError

    def differs(self, before: Any, after: Any) -> bool:
        return bool(before != after)

    def write(self, before: Any, after: Any) -> Any:
        """Make the wanted state real; returns the state as the store reports it."""
        raise NotImplementedError

    def render(self, state: Any) -> str:
        """A state as text for --diff."""
        raise NotImplementedError

    def settle(self, after: Any) -> None:
        """After a real run (changed or not): wait for whatever acts on the state;
        raise `Refused` if it does not happen."""

    def report(self, before: Any, after: Any) -> dict[str, Any]:
        """Return values besides `changed` and `diff`."""
        return {}

    def run(self) -> None:
        before: Any = None
        after: Any = None
        changed = False
        try:
            before = self.read()
            after = self.plan(before)
            changed = self.differs(before, after)
            if changed and not self.module.check_mode:
                after = self.write(before, after)
            if not self.module.check_mode:
                self.settle(after)
        except Refused as exc:
            self.module.fail_json(msg=str(exc), changed=self.transport.wrote)
        except (StoreError, TimeoutError) as exc:
            msg = describe(exc, self.client, self.subject)
            self.module.fail_json(msg=msg, changed=self.transport.wrote)
        finally:
            self.client.close()
        result: dict[str, Any] = {"changed": changed}
        result.update(self.report(before, after))
        if self.module._diff:
            result["diff"] = {
                "before": self.render(before),
                "after": self.render(after),
                "before_header": self.subject or "",
                "after_header": self.subject or "",
            }
        self.module.exit_json(**result)


def local_machine_id() -> str | None:
    """The managed host's /etc/machine-id, the default machine of the modules that act
    on one machine; None when it has none."""
    try:
        with open("/etc/machine-id", encoding="ascii") as f:
            return f.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def read_tree(client: Client, key: str, missing: Any = None) -> Any:
    """The value of `key` and everything below it (`KeyNode.to_tree`), or `missing` when
    the store has no such key."""
    try:
        return client.get(key, recursive=True).node.to_tree()
    except KeyNotFound:
        return missing
