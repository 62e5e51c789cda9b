# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Lookup corral.cloud.kv: values (or whole directories) read from the Corral store."""

from __future__ import annotations

DOCUMENTATION = r"""
name: kv
short_description: Read keys or directories from the Corral store
version_added: 0.1.0
description:
  - Returns the value of each key given as a term, read from the Corral store
    (etcd v2 keys API) on the controller.
  - A directory is returned as a dict of names to values; with O(recursive=true) its
    subdirectories are nested dicts too.
  - A missing key is an error naming the key and the store, unless O(default) is given.
  - All terms are read over one HTTP connection.
  - A keyword that is none of the options below is an error.
author:
  - Corral developers (@corral)
options:
  _terms:
    description: The keys to read, for example V(/config/app/port).
    required: true
    type: list
    elements: str
  recursive:
    description:
      - Return a directory with everything under it as nested dicts. Without it, a
        subdirectory appears as an empty dict.
    type: bool
    default: false
  default:
    description:
      - The value returned for a key that does not exist. Without it, a missing key
        fails the task.
    type: raw
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.connection.plugins
notes:
  - The store is read from the controller, not from the managed hosts.
  - Options come, from strongest to weakest, from keywords, variables such as
    C(corral_endpoint), environment variables such as E(CORRAL_ENDPOINT) and the
    C([corral]) section of C(ansible.cfg).
seealso:
  - module: corral.cloud.kv
  - module: corral.cloud.kv_info
"""

EXAMPLES = r"""
- name: Read one key
  ansible.builtin.debug:
    msg: "{{ lookup('corral.cloud.kv', '/config/app/port') }}"

- name: Read a key that may not be there
  ansible.builtin.debug:
    msg: "{{ lookup('corral.cloud.kv', '/config/app/debug', default='false') }}"

- name: Read a whole directory as a nested dict from another store
  ansible.builtin.set_fact:
    app_config: >-
      {{ lookup('corral.cloud.kv', '/config/app', recursive=true,
                endpoint='https://store.example.com:2379', ca_cert='/etc/corral/ca.pem') }}

- name: Several keys at once, as a list
  ansible.builtin.debug:
    msg: "{{ query('corral.cloud.kv', '/config/app/host', '/config/app/port') }}"
"""

RETURN = r"""
_raw:
  description:
    - One item per term, the value of the key (a string), or for a directory a dict
      of names to values (nested dicts with O(recursive=true)).
  type: list
  elements: raw
"""

from typing import Any

from ansible.errors import AnsibleError, AnsibleLookupError, AnsibleOptionsError
from ansible.plugins.lookup import LookupBase
from ansible_collections.corral.cloud.plugins.module_utils.client import Client, StoreError
from ansible_collections.corral.cloud.plugins.module_utils.connection import (
    client_for,
    describe,
)
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        has_default = "default" in kwargs
        self.set_options(var_options=variables, direct=kwargs)
        known = set(self.get_options()) - {"_terms"}
        unknown = sorted(set(kwargs) - known)
        if unknown:  # Ansible itself would drop them silently: a typo must not pass
            raise AnsibleOptionsError(
                f"corral.cloud.kv: unknown keyword {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        options = {
            name: self.get_option(name)
            for name in (
                "endpoint", "ca_cert", "client_cert", "client_key",
                "validate_certs", "timeout", "username", "password",
            )
        }  # fmt: skip
        try:
            client = client_for(options)
        except StoreError as exc:
            raise AnsibleError(f"corral.cloud.kv: {exc}") from exc
        recursive = self.get_option("recursive")
        default = self.get_option("default")
        try:
            return [self._read(client, str(t), recursive, has_default, default) for t in terms]
        finally:
            client.close()

    @staticmethod
    def _read(client: Client, key: str, recursive: bool, has_default: bool, default: Any) -> Any:
        try:
            return client.get(key, recursive=recursive, sorted=True).node.to_tree()
        except KeyNotFound as exc:
            if has_default:
                return default
            raise AnsibleLookupError(f"key {key} not found in store {client.endpoint}") from exc
        except (StoreError, TimeoutError) as exc:
            raise AnsibleLookupError(describe(exc, client, key)) from exc
