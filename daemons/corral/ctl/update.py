"""corralctl update: what corral-updated does on each machine, and the operator's levers.

status, history: read `/_corral/update/machines/*`, `history/<id>/`, `bad/*`.
check, reboot: leave a request at `requests/<id>/<kind>` that the machine's daemon
consumes. hold, release: `holds/<id>` (or `holds/all` with --all). clear: delete a
release's bad mark so machines may install it again.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from corral.client import KEY_NOT_FOUND, Client, EtcdError
from corral.fleet.table import print_table
from corral.updated import records as r


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("update", help="A/B updates: status, check, reboot, holds")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    st = sub.add_parser("status", help="every machine's update status, and bad releases")
    st.set_defaults(func=cmd_status)
    for verb, helptext, func in (
        ("check", "check for an update now", cmd_request),
        ("reboot", "reboot into the staged update now (strategy external or any)", cmd_request),
        ("hold", "keep the installed version: no install, no reboot", cmd_hold),
        ("release", "end a hold", cmd_hold),
    ):
        c = sub.add_parser(verb, help=helptext)
        c.add_argument("machine_id", nargs="?", metavar="ID")
        c.add_argument("--all", action="store_true", help="every machine")
        c.set_defaults(func=func, verb=verb)
    h = sub.add_parser("history", help="a machine's update events, oldest first")
    h.add_argument("machine_id", metavar="ID")
    h.set_defaults(func=cmd_history)
    c = sub.add_parser("clear", help="let machines install a release marked bad again")
    c.add_argument("release_id", metavar="RELEASE_ID")
    c.set_defaults(func=cmd_clear)


def _children(client: Client, key: str) -> list[tuple[str, str]]:
    try:
        node = client.get(key, recursive=True, sorted=True).node
    except EtcdError as exc:
        if exc.error_code == KEY_NOT_FOUND:
            return []
        raise
    return [(n.name, n.value or "") for n in node.nodes if not n.dir]


def _statuses(client: Client) -> list[r.MachineStatus]:
    out = []
    for name, value in _children(client, r.MACHINES):
        try:
            out.append(r.decode(r.MachineStatus, value))
        except r.RecordError:
            out.append(r.MachineStatus(name, status="?", error="unreadable status record"))
    return out


def bad_releases(client: Client) -> list[r.BadRelease]:
    out = []
    for name, value in _children(client, r.BAD):
        try:
            out.append(r.decode(r.BadRelease, value))
        except r.RecordError:
            out.append(r.BadRelease(name, "?", "?", "unreadable record", ""))
    return out


def cmd_status(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        statuses = _statuses(client)
        bad = bad_releases(client)
        held = {name for name, _ in _children(client, r.HOLDS)}
    rows = []
    for s in statuses:
        progress = f"{s.progress * 100:.0f}%" if s.status == r.DOWNLOADING else "-"
        detail = s.error or s.note or s.rollback or "-"
        rows.append({
            "machine": s.machine, "status": s.status, "version": s.version or "-",
            "new": s.new_version or "-", "progress": progress,
            "held": "yes" if s.machine in held or r.HOLD_ALL in held else "no",
            "detail": detail,
        })  # fmt: skip
    print_table(("machine", "status", "version", "new", "progress", "held", "detail"), rows, True)
    for b in bad:
        print(f"\nbad release {b.release_id} ({b.version}): failed its health check on"
              f" {b.machine} at {b.time}: {b.reason}\n  no machine installs it until"
              f" `corralctl update clear {b.release_id}`")  # fmt: skip
    return 0


def _targets(args: argparse.Namespace, client: Client) -> list[str] | None:
    if args.all == bool(args.machine_id):
        print(f"Error: give a machine ID or --all, not {'both' if args.all else 'neither'}",
              file=sys.stderr)
        return None
    if args.machine_id:
        return [args.machine_id]
    return [s.machine for s in _statuses(client)]


def cmd_request(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        targets = _targets(args, client)
        if targets is None:
            return 1
        for mid in targets:
            client.set(f"{r.REQUESTS}/{mid}/{args.verb}", "requested")
            print(f"{args.verb} requested on {mid}")
    return 0


def cmd_hold(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        if args.all == bool(args.machine_id):
            _targets(args, client)  # says what is wrong with the arguments
            return 1
        key = f"{r.HOLDS}/{r.HOLD_ALL if args.all else args.machine_id}"
        who = "every machine" if args.all else args.machine_id
        if args.verb == "hold":
            client.set(key, "held")
            print(f"{who} held at its installed version")
            return 0
        try:
            client.delete(key)
        except EtcdError as exc:
            if exc.error_code != KEY_NOT_FOUND:
                raise
            print(f"Error: {who} is not held", file=sys.stderr)
            return 1
        print(f"{who} released: updates resume")
    return 0


def cmd_history(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        entries = _children(client, f"{r.HISTORY}/{args.machine_id}")
    if not entries:
        print(f"Error: no update history for machine {args.machine_id!r}", file=sys.stderr)
        return 1
    for _, value in entries:
        try:
            e = r.decode(r.HistoryEntry, value)
        except r.RecordError:
            continue
        print(f"{e.time}  {e.event:10} {e.version or '-':12} {e.detail}")
    return 0


def cmd_clear(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        try:
            client.delete(f"{r.BAD}/{args.release_id}")
        except EtcdError as exc:
            if exc.error_code != KEY_NOT_FOUND:
                raise
            known = ", ".join(b.release_id for b in bad_releases(client)) or "none"
            print(f"Error: release {args.release_id!r} is not marked bad (marked bad: {known})",
                  file=sys.stderr)
            return 1
        with contextlib.suppress(EtcdError):  # a new canary proves it again
            client.delete(f"{r.CANARY}/{args.release_id}")
    print(f"release {args.release_id} cleared: machines may install it again")
    return 0
