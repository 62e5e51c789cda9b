"""corralctl user: the store's users (etcdctl's `user`), over `/v2/auth/users`.

A new password never comes from the command line (it would show in `ps`): it is read
from `--new-password-file`, else `$CORRAL_NEW_PASSWORD`, else asked twice without echo
when a terminal is attached. It is sent once to the store, which keeps a hash only.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from corral.client import StoreError
from corral.ctl.auth import auth_call
from corral.ctl.output import JSON, add_output, print_json

NEW_PASSWORD_ENV = "CORRAL_NEW_PASSWORD"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("user", help="users and the roles they hold")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name", help="the user's name")
    add.add_argument("--roles", default="", help="comma-separated roles to hold")
    passwd = sub.add_parser("passwd", help="change a user's password")
    passwd.add_argument("name", help="the user's name")
    for c in (add, passwd):
        c.add_argument(
            "--new-password-file", help=f"file with the password (else ${NEW_PASSWORD_ENV})"
        )
    for verb in ("grant", "revoke"):
        c = sub.add_parser(verb, help=f"{verb} roles")
        c.add_argument("name", help="the user's name")
        c.add_argument("--roles", required=True, help="comma-separated role names")
    for verb, helptext in (("remove", "delete a user"), ("get", "a user and its roles")):
        sub.add_parser(verb, help=helptext).add_argument("name", help="the user's name")
    add_output(sub.add_parser("list", help="every user"),
               help="table (default) or json: a list of {user, roles (a list of names)}")
    for name, c in sub.choices.items():
        c.set_defaults(func=cmd_user, verb=name)


def new_password(path: str | None) -> str:
    if path:
        try:
            with open(path) as f:
                text = f.read().rstrip("\n")
        except OSError as exc:
            raise StoreError(f"cannot read the password file: {exc.strerror}") from None
    elif os.environ.get(NEW_PASSWORD_ENV):
        text = os.environ[NEW_PASSWORD_ENV]
    elif sys.stdin.isatty():
        text = getpass.getpass("New password: ")
        if getpass.getpass("Type it again: ") != text:
            raise StoreError("the two passwords differ")
    else:
        raise StoreError(f"no password: give --new-password-file or set ${NEW_PASSWORD_ENV}")
    if not text:
        raise StoreError("the password is empty")
    return text


def _role_names(user: dict[str, Any]) -> list[str]:
    """A user's roles as names: the store lists them as objects ({"role": name, ...})."""
    return [r["role"] if isinstance(r, dict) else r for r in user.get("roles") or []]


def _roles(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def cmd_user(args: argparse.Namespace, ctx: Any) -> int:
    verb = args.verb
    body: dict[str, Any] = {"user": getattr(args, "name", "")}
    if verb == "add":
        body["password"] = new_password(args.new_password_file)
        if _roles(args.roles):
            body["roles"] = _roles(args.roles)
    elif verb == "passwd":
        body["password"] = new_password(args.new_password_file)
    elif verb in ("grant", "revoke"):
        body[verb] = _roles(args.roles)
        if not body[verb]:
            raise StoreError("--roles is empty")
    with ctx.client() as client:
        if verb == "list":
            users = (auth_call(client, "GET", "/users") or {}).get("users") or []
            if args.output == JSON:
                print_json([{"user": u["user"], "roles": _role_names(u)} for u in users])
                return 0
            for u in users:
                print(u["user"])
            return 0
        path = f"/users/{args.name}"
        if verb == "get":
            user = auth_call(client, "GET", path) or {}
            roles = ",".join(r["role"] for r in user.get("roles") or [])
            print(f"User: {user.get('user', args.name)}\nRoles: {roles}")
            return 0
        if verb == "remove":
            auth_call(client, "DELETE", path)
            print(f"User {args.name} removed")
            return 0
        out = auth_call(client, "PUT", path, body) or {}
        done = {"add": "created", "passwd": "password changed"}.get(verb, "updated")
        print(f"User {args.name} {done}; roles: {','.join(out.get('roles') or [])}")
        return 0
