"""corralctl role: roles and the key prefixes they may read or write (etcdctl's `role`),
plus `role layout`, which creates Corral's least-privilege roles.

The layout's rules (who may read and write what) are `LAYOUT_HELP`, shown by
`corralctl role layout --help`; SECURITY.md has the same matrix.
"""

from __future__ import annotations

import argparse
from typing import Any

from corral.client import EtcdError, StoreError
from corral.ctl.auth import auth_call
from corral.ctl.output import JSON, add_output, print_json

# What `role layout --help` explains: each role's grants and who may do what.
LAYOUT_HELP = """\
Each credential can hurt only its own machine: what a machine's daemons write is named
for that machine, and everything that steers more than one machine is the operators'.
Patterns match a key exactly, or as a prefix when they end in `*`; `<u>` is
`/_corral/update`.

Roles (reads; writes):
- `guest` (requests without credentials): nothing; nothing.
- `corral-viewer`: `/*`; nothing.
- `corral-admin`: `/*`; `/*` (operators).
- `corral-agent-<id>`: `/_corral*`; `/_corral/machines/<id>`, `/_corral/states/<id>/*`.
- `corral-engine`: `/_corral*`; `/_corral/schedule/*`, `/_corral/states/*`,
  `/_corral/engine/leader`.
- `corral-updater-<id>`: `/_corral*`; `<u>/machines/<id>`, `<u>/alive/<id>`,
  `<u>/history/<id>` and `<u>/history/<id>/*`, `<u>/requests/<id>/*`,
  `<u>/reports/<id>/*`, `<u>/drain/<id>`, `<u>/reboot-lock/holders/<id>/*`.

Who may do what (admin: corral-admin; "own": the updater or agent role of that machine):
- publish a machine's update status, heartbeat, history: own updater, admin.
- report that a machine failed a release (bad for the whole fleet) or proved it
  (`<u>/reports/<id>/<release>`): own updater, admin.
- clear a release's failed reports (`update clear`), name canaries (`update canary`,
  `<u>/canaries/*`): admin.
- take or give back a machine's place in the reboot lock (`lock lock/unlock --id <id>`):
  own updater, admin; another holder's place, the lock's size (`lock set-max`,
  `<u>/reboot-lock/max/*`), the earlier layout's `<u>/lock*`: admin.
- holds, settings, check and reboot requests (`update hold/set/check/reboot`), for one
  machine or `all`: admin (a machine's updater consumes its own requests).
- ask the agent of a machine to drain it before a reboot (`<u>/drain/<id>`): own
  updater, admin; the machine record itself (metadata, `drained`): own agent, admin.
- report unit states: own agent; others' states, the schedule: engine, admin; submit
  units: admin.

`corral-engine` is given only to the agents allowed to become the engine: it deletes the
unit states of machines that are gone, and of the earlier layout. `guest` is created
empty, so enabling auth does not give anonymous clients etcd's default read and write
on `/*`.

Re-running the layout grants what a role lacks and revokes only what an earlier layout
granted and this one no longer does (`OBSOLETE`: agents' write on all of
`/_corral/states/*`; updaters' write on the fleet-wide `<u>/lock`, `<u>/lock-groups/*`,
`<u>/canary/*`, `<u>/bad/*` and on the agent's `/_corral/machines/<id>`), never what an
operator added. Upgrading a cluster: run the layout with `--keep-obsolete` (the new
grants, the earlier ones kept, so that daemons of both versions work), upgrade
corral-updated on every machine, then run the layout without it. A daemon of the earlier
version that finds its grants revoked stops before it installs or reboots (its errors
show in `corralctl update status`).
"""

Grants = dict[str, tuple[list[str], list[str]]]  # role -> (read, write)
# write grants of earlier layouts, revoked by a new run (prefix of the role name -> paths;
# `{id}` is the machine id the role is named for)
OBSOLETE: dict[str, list[str]] = {
    "corral-agent-": ["/_corral/states/*"],
    "corral-updater-": [
        "/_corral/update/lock",
        "/_corral/update/lock-groups/*",
        "/_corral/update/canary/*",
        "/_corral/update/bad/*",
        "/_corral/machines/{id}",
    ],
}


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
                f"{u}/machines/{m}",
                f"{u}/alive/{m}",
                f"{u}/history/{m}",
                f"{u}/history/{m}/*",
                f"{u}/requests/{m}/*",
                f"{u}/reports/{m}/*",
                f"{u}/drain/{m}",
                f"{u}/reboot-lock/holders/{m}/*",
            ],
        )
    return roles


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("role", help="roles: which key prefixes may be read or written")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for verb, helptext in (("add", "create a role"), ("remove", "delete a role"),
                           ("get", "a role's permissions")):  # fmt: skip
        sub.add_parser(verb, help=helptext).add_argument("name", help="the role's name")
    for verb in ("grant", "revoke"):
        c = sub.add_parser(verb, help=f"{verb} access to a key or prefix (ending in *)")
        c.add_argument("name", help="the role's name")
        c.add_argument("--path", required=True, help="a key, or a prefix ending in *")
        mode = c.add_mutually_exclusive_group(required=True)
        for flag in ("read", "write", "readwrite"):
            mode.add_argument(f"--{flag}", dest="mode", action="store_const", const=flag,
                              help=f"{verb} {MODE_HELP[flag]}")
    add_output(sub.add_parser("list", help="every role"),
               help="table (default) or json: a list of {role, read, write} (key prefixes)")
    lay = sub.add_parser("layout", help="create Corral's least-privilege roles",
                         description=LAYOUT_HELP.replace("`", ""),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    lay.add_argument("--machine", action="append", default=[], help="a machine id (repeat)")
    lay.add_argument("--keep-obsolete", action="store_true",
                     help="keep the earlier layout's grants (while daemons of both versions"
                     " run during an upgrade)")  # fmt: skip
    for name, c in sub.choices.items():
        c.set_defaults(func=cmd_role, verb=name)


MODE_HELP = {"read": "reading", "write": "writing", "readwrite": "reading and writing"}


def _role_document(role: dict[str, Any]) -> dict[str, Any]:
    kv = (role.get("permissions") or {}).get("kv") or {}
    return {"role": role["role"], "read": kv.get("read") or [], "write": kv.get("write") or []}


def _perms(read: list[str], write: list[str]) -> dict[str, Any]:
    return {"kv": {"read": read, "write": write}}


def cmd_role(args: argparse.Namespace, ctx: Any) -> int:
    verb = args.verb
    with ctx.client() as client:
        if verb == "list":
            roles = (auth_call(client, "GET", "/roles") or {}).get("roles") or []
            if args.output == JSON:
                print_json([_role_document(r) for r in roles])
                return 0
            for r in roles:
                print(r["role"])
            return 0
        if verb == "layout":
            return _layout(client, args.machine, args.keep_obsolete)
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


def _layout(client: Any, machines: list[str], keep_obsolete: bool) -> int:
    apply_layout(client, machines, keep_obsolete)
    for name, (read, write) in layout(machines).items():
        print(f"Role {name}: read {','.join(read) or '-'}; write {','.join(write) or '-'}")
    return 0


def apply_layout(client: Any, machines: list[str], keep_obsolete: bool = False) -> list[str]:
    """Create each missing role, then grant what it lacks; never revoke (an operator
    may have widened a role on purpose), except that guest loses everything and
    OBSOLETE grants go (unless `keep_obsolete`). Returns the roles it changed (none on a
    second run)."""
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
            if name.startswith(prefix) and not keep_obsolete
            for p in (path.replace("{id}", name[len(prefix):]) for path in paths)
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
