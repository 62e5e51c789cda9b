# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The connection options every plugin shares, and the one way to build a client
from them.

The option names match the `corral.cloud.connection` doc fragment. Errors from the
client are turned into one readable sentence here, so modules and lookups report a
failure the same way and always name the endpoint, never a password written in it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.client import (
    Client,
    EtcdError,
    StoreError,
    StoreUnavailable,
    Transport,
    default_endpoint,
    redact_url,
)
from ansible_collections.corral.cloud.plugins.module_utils.duration import DurationError
from ansible_collections.corral.cloud.plugins.module_utils.option_duration import option_seconds


def connection_argument_spec() -> dict[str, dict[str, Any]]:
    """AnsibleModule argument_spec entries of the connection options."""
    return {
        "endpoint": {"type": "str"},
        "ca_cert": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "raw", "default": 5.0},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
    }


def check_endpoint(endpoint: str) -> None:
    """Refuse an endpoint that is not a list of http(s)://HOST[:PORT] URLs, which the
    client would otherwise read as a path on the local host."""
    for url in endpoint.split(","):
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(
                f"endpoint {redact_url(url.strip())!r} is not an http:// or https:// URL "
                "with a host"
            )


def client_for(options: Mapping[str, Any], transport: Transport | None = None) -> Client:
    """A client for the options' endpoint. Without a transport it keeps one HTTP
    connection alive across requests (what a lookup wants); modules pass open_url.
    Raises StoreError for an endpoint that is not a URL or a timeout that is no duration."""
    endpoint = options.get("endpoint") or None
    check_endpoint(default_endpoint(endpoint))
    try:
        timeout = float(option_seconds(options.get("timeout") or 5.0, "timeout"))
    except DurationError as exc:
        raise StoreError(str(exc)) from None
    return Client(
        endpoint,
        timeout=timeout,
        ca_file=options.get("ca_cert"),
        cert_file=options.get("client_cert"),
        key_file=options.get("client_key"),
        validate_certs=bool(options.get("validate_certs", True)),
        username=options.get("username"),
        password=options.get("password"),
        transport=transport,
    )


def describe(exc: BaseException, client: Client, key: str | None = None) -> str:
    """One sentence for a failed request: what failed, on which key, at which store."""
    where = f"store {', '.join(client.endpoints)}"
    about = f" for key {key}" if key else ""
    if isinstance(exc, EtcdError):
        return f"{where} refused the request{about}: {exc}"
    if isinstance(exc, TimeoutError):  # first: the client's StoreTimeout is unavailable too
        return f"{where} did not answer{about} within {client.timeout}s"
    if isinstance(exc, StoreUnavailable):
        return f"cannot reach {where}{about}: {exc}"
    if isinstance(exc, StoreError):
        return f"{where}{about}: {exc}"
    return f"{where}{about}: unexpected {type(exc).__name__}: {exc}"
