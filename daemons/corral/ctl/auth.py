"""corralctl auth: turn the store's authentication on or off (etcdctl's `auth`).

Also the small helper `auth_call` that `user` and `role` share: the `/v2/auth` routes
answer refusals with `{"message": ...}` instead of the keys API's error bodies, so
they are translated here: 401 becomes `Unauthorized` (110: exit 3, as etcdctl), anything else a
store error with the server's message.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from corral.client import Client, StoreError, StoreUnavailable
from corral.etcd_errors import Unauthorized


def auth_call(client: Client, method: str, path: str, body: Any = None) -> Any:
    """One request to `/v2/auth{path}`; the decoded JSON answer (None when empty)."""
    resp = client.request(method, "/v2/auth" + path, json_body=body)
    try:
        data = json.loads(resp.body) if resp.body.strip() else None
    except ValueError as exc:
        raise StoreUnavailable(f"HTTP {resp.status}: answer is not JSON") from exc
    if resp.status >= 400:
        message = data.get("message", "") if isinstance(data, dict) else str(resp.status)
        if resp.status == 401:
            raise Unauthorized(message=message or "Insufficient credentials")
        raise StoreError(message or f"HTTP {resp.status}")
    return data


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("auth", help="turn authentication on or off")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for verb, helptext in (
        ("enable", "require credentials (needs a root user)"),
        ("disable", "stop checking credentials (needs root)"),
        ("status", "whether authentication is on"),
    ):
        sub.add_parser(verb, help=helptext).set_defaults(func=cmd_auth, verb=verb)


def cmd_auth(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        if args.verb == "status":
            state = auth_call(client, "GET", "/enable")
            print("enabled" if state and state.get("enabled") else "disabled")
            return 0
        auth_call(client, "PUT" if args.verb == "enable" else "DELETE", "/enable")
        print(f"Authentication {args.verb}d")
        return 0
