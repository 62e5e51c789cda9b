"""corralctl role: roles and the key prefixes they may read or write (etcdctl's `role`),
plus `role layout`, which creates Corral's least-privilege roles.

The layout (patterns match a key exactly, or as a prefix when they end in `*`):
- `corral-agent-<id>`: read `/_corral*` (fleet's mirror watches `/_corral` itself
  recursively, which `/_corral/*` would not allow); write its own machine record and its
  own unit states, `/_corral/states/<id>/*` (fleet keeps states machine first for this),
  so an agent cannot forge another machine's reports.
- `corral-engine`: write `/_corral/schedule/*`, `/_corral/states/*` (it deletes the
  reports of machines that are gone, and of the earlier layout) and
  `/_corral/engine/leader`; give it only to the agents allowed to become the engine.
- `corral-updater-<id>`: read `/_corral*`; write the reboot lock (`update/lock*`),
  its own status, heartbeat, history and requests, canary and bad-release marks, and
  its machine record (the drain flag).
- `corral-admin`: read and write `/*` (operators: submitting units, forcing reboots).
- `corral-viewer`: read `/*`, write nothing.
- `guest` (requests without credentials): created empty, so enabling auth does not
  give anonymous clients etcd's default read and write on `/*`.

Re-running the layout grants what a role lacks and revokes only what an earlier layout
granted and this one no longer does (`OBSOLETE`: agents' write on all of
`/_corral/states/*`), never what an operator added.
"""

from __future__ import annotations

import argparse
from typing import Any

from corral.client import EtcdError, StoreError
from corral.ctl.auth import auth_call

Grants = dict[str, tuple[list[str], list[str]]]  # role -> (read, write)
# write grants of earlier layouts, revoked by a new run (prefix of the role name -> paths)
OBSOLETE: dict[str, list[str]] = {"corral-agent-": ["/_corral/states/*"]}


def layout(machines: list[str]) -> Grants:
    """Corral's roles for these machine ids (pure: no store involved)."""
    c = "/_corral"
    roles: Grants = {
        "corral-admin": (["/*"], ["/*"]),
        "corral-viewer": (["/*"], []),
        "corral-engine": (
            [f"{c}*"],
            [f"{c}/schedule/*", f"{c}/states/*", f"{c}/engine/leader"],
        ),
        "guest": ([], []),
    }
    for m in machines:
        roles[f"corral-agent-{m}"] = ([f"{c}*"], [f"{c}/machines/{m}", f"{c}/states/{m}/*"])
        u = f"{c}/update"
        roles[f"corral-updater-{m}"] = (
            [f"{c}*"],
            [
                f"{u}/lock",
                f"{u}/lock-groups/*",
                f"{u}/machines/{m}",
                f"{u}/alive/{m}",
                f"{u}/history/{m}",
                f"{u}/history/{m}/*",
                f"{u}/requests/{m}/*",
                f"{u}/canary/*",
                f"{u}/bad/*",
                f"{c}/machines/{m}",
            ],
        )
    return roles


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("role", help="roles: which key prefixes may be read or written")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for verb, helptext in (("add", "create a role"), ("remove", "delete a role"),
                           ("get", "a role's permissions")):  # fmt: skip
        sub.add_parser(verb, help=helptext).add_argument("name")
    for verb in ("grant", "revoke"):
        c = sub.add_parser(verb, help=f"{verb} access to a key or prefix (ending in *)")
        c.add_argument("name")
        c.add_argument("--path", required=True, help="a key, or a prefix ending in *")
        mode = c.add_mutually_exclusive_group(required=True)
        for flag in ("read", "write", "readwrite"):
            mode.add_argument(f"--{flag}", dest="mode", action="store_const", const=flag)
    sub.add_parser("list", help="every role")
    lay = sub.add_parser("layout", help="create Corral's least-privilege roles")
    lay.add_argument("--machine", action="append", default=[], help="a machine id (repeat)")
    for name, c in sub.choices.items():
        c.set_defaults(func=cmd_role, verb=name)


def _perms(read: list[str], write: list[str]) -> dict[str, Any]:
    return {"kv": {"read": read, "write": write}}


def cmd_role(args: argparse.Namespace, ctx: Any) -> int:
    verb = args.verb
    with ctx.client() as client:
        if verb == "list":
            for r in (auth_call(client, "GET", "/roles") or {}).get("roles") or []:
                print(r["role"])
            return 0
        if verb == "layout":
            return _layout(client, args.machine)
        path = f"/roles/{args.name}"
        if verb == "get":
            kv = ((auth_call(client, "GET", path) or {}).get("permissions") or {}).get("kv", {})
            print(f"Role: {args.name}")
            print("KV Read:\n" + "".join(f"\t{p}\n" for p in kv.get("read") or []), end="")
            print("KV Write:\n" + "".join(f"\t{p}\n" for p in kv.get("write") or []), end="")
            return 0
        if verb == "remove":
            auth_call(client, "DELETE", path)
            print(f"Role {args.name} removed")
            return 0
        body: dict[str, Any] = {"role": args.name}
        if verb == "add":
            body["permissions"] = _perms([], [])
        else:
            read = [args.path] if args.mode in ("read", "readwrite") else []
            write = [args.path] if args.mode in ("write", "readwrite") else []
            body[verb] = _perms(read, write)
        auth_call(client, "PUT", path, body)
        print(f"Role {args.name} {'created' if verb == 'add' else 'updated'}")
        return 0


def _layout(client: Any, machines: list[str]) -> int:
    apply_layout(client, machines)
    for name, (read, write) in layout(machines).items():
        print(f"Role {name}: read {','.join(read) or '-'}; write {','.join(write) or '-'}")
    return 0


def apply_layout(client: Any, machines: list[str]) -> list[str]:
    """Create each missing role, then grant what it lacks; never revoke (an operator
    may have widened a role on purpose), except that guest loses everything and
    OBSOLETE grants go. Returns the roles it changed (none on a second run)."""
    changed: list[str] = []
    for name, (read, write) in layout(machines).items():
        path = f"/roles/{name}"
        try:
            current = (auth_call(client, "GET", path) or {}).get("permissions") or {}
        except EtcdError:
            raise
        except StoreError:  # 404: not there yet
            auth_call(client, "PUT", path, {"role": name, "permissions": _perms([], [])})
            changed.append(name)
            current = {}
        kv = current.get("kv") or {}
        have_r, have_w = set(kv.get("read") or []), set(kv.get("write") or [])
        stale_r = sorted(have_r) if name == "guest" else []
        stale_w = sorted(have_w) if name == "guest" else []
        stale_w += [
            p
            for prefix, paths in OBSOLETE.items()
            if name.startswith(prefix)
            for p in paths
            if p in have_w and p not in write
        ]
        if stale_r or stale_w:
            auth_call(client, "PUT", path, {"role": name, "revoke": _perms(stale_r, stale_w)})
            have_r, have_w = have_r - set(stale_r), have_w - set(stale_w)
        add_r = [p for p in read if p not in have_r]
        add_w = [p for p in write if p not in have_w]
        if add_r or add_w:
            auth_call(client, "PUT", path, {"role": name, "grant": _perms(add_r, add_w)})
        if (stale_r or stale_w or add_r or add_w) and name not in changed:
            changed.append(name)
    return changed
