"""Turns on the store's auth with Corral's least-privilege layout; idempotent.

usage: auth_setup.py ENDPOINT < SPEC   (run with the venv's Python; TLS from CORRAL_*)

SPEC is JSON on stdin, never on the command line where `ps` would show it:
{"root_password": str, "machines": [id, ...],
 "users": [{"name": str, "password": str, "roles": [str, ...]}, ...]}

Steps: the `root` user, `role layout` for the machines, each user with its roles (roles
are granted, never revoked; a password that no longer logs in is set again), then
`auth enable`. Prints one JSON line {"changed": bool, "done": [...]} naming what it
changed, and on failure {"failed": true, "msg": ...}: neither ever holds a password.
"""

import json
import sys
from typing import Any

from corral.client import Client, EtcdError, StoreError
from corral.ctl.auth import auth_call
from corral.ctl.role import apply_layout
from corral.etcd_errors import Unauthorized


class SetupRefused(Exception):
    """The store's state forbids going on; the message says what to do."""


def logs_in(endpoint: str, name: str, password: str) -> bool:
    """Whether `name` gets past authentication (every Corral role reads /_corral)."""
    with Client(endpoint, username=name, password=password) as client:
        try:
            client.get("/_corral")
        except Unauthorized:
            return False
        except EtcdError:
            return True
    return True


def ensure_user(
    client: Client, enabled: bool, endpoint: str, user: dict[str, Any], done: list[str]
) -> None:
    name, password, roles = user["name"], user["password"], list(user.get("roles") or [])
    path = f"/users/{name}"
    try:
        current = auth_call(client, "GET", path) or {}
    except EtcdError:
        raise
    except StoreError:  # 404: a new user
        auth_call(client, "PUT", path, {"user": name, "password": password, "roles": roles})
        done.append(f"user {name} created")
        return
    have = {r["role"] if isinstance(r, dict) else r for r in current.get("roles") or []}
    missing = [r for r in roles if r not in have]
    if missing:
        auth_call(client, "PUT", path, {"user": name, "grant": missing})
        done.append(f"user {name} granted {','.join(missing)}")
    # With auth off the store checks no password, so one cannot be tested: set it.
    if not enabled or not logs_in(endpoint, name, password):
        auth_call(client, "PUT", path, {"user": name, "password": password})
        done.append(f"user {name} password set")


def main() -> int:
    endpoint = sys.argv[1]
    spec = json.load(sys.stdin)
    done: list[str] = []
    root = {"name": "root", "password": spec["root_password"], "roles": ["root"]}
    with Client(endpoint, username="root", password=root["password"]) as client:
        enabled = bool((auth_call(client, "GET", "/enable") or {}).get("enabled"))
        if enabled and not logs_in(endpoint, "root", root["password"]):
            raise SetupRefused(
                "auth is on and the root password given is not the store's: "
                "change it with `corralctl user passwd root` first"
            )
        ensure_user(client, enabled, endpoint, root, done)
        done += [f"role {r}" for r in apply_layout(client, list(spec.get("machines") or []))]
        for user in spec.get("users") or []:
            ensure_user(client, enabled, endpoint, user, done)
        if not enabled:
            auth_call(client, "PUT", "/enable")
            done.append("auth enabled")
    print(json.dumps({"changed": bool(done), "done": done}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (SetupRefused, StoreError, KeyError, TypeError, ValueError) as exc:
        # the message names keys and users, never a value of the spec
        print(json.dumps({"failed": True, "msg": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
