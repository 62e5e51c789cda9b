"""corralctl update: what corral-updated does on each machine, and the operator's levers.

status, history: read `/_corral/update/machines/*`, `history/<id>/`, the machines'
`failed` reports (`reports/<id>/<release_id>`) and the earlier layout's `bad/*`.
check, reboot: leave a request at `requests/<id>/<kind>` that the machine's daemon
consumes. hold, release: `holds/<id>` (or `holds/all` with --all). clear: delete every
machine's `failed` report of a release (and its earlier `bad/` mark) so machines may
install it again; the canaries' `proven` reports stay. canary: name a machine a canary
(`canaries/<id>`), or with --remove no longer. set, unset: a machine's (or, with --all,
the cluster's default) channel, strategy and windows in `config/<id>`, which the daemon
applies over its flags; a value is checked before anything is written. All but status
and history need an operator's credentials (`corralctl role layout`: corral-admin).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import asdict
from typing import Any

from corral.client import Client, EtcdError
from corral.ctl.output import JSON, add_output, print_json
from corral.etcd_errors import KeyNotFound
from corral.fleet.table import print_table
from corral.updated import records as r
from corral.updated.policy import STRATEGIES
from corral.updated.reports import legacy_bad, named_canaries, read_reports
from corral.updated.settings import (
    FIELDS,
    Settings,
    SettingsError,
    parse_settings,
    settings_from,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("update", help="A/B updates: status, check, reboot, holds")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    st = sub.add_parser("status", help="every machine's update status, and bad releases")
    add_output(st, help="table (default) or json: one object for scripts and configuration"
               " management: machines, held_all, canaries, bad_releases")
    st.set_defaults(func=cmd_status)
    for verb, helptext, func in (
        ("check", "check for an update now", cmd_request),
        ("reboot", "reboot into the staged update now (strategy external or any)", cmd_request),
        ("hold", "keep the installed version: no install, no reboot", cmd_hold),
        ("release", "end a hold", cmd_hold),
    ):
        c = sub.add_parser(verb, help=helptext)
        c.add_argument("machine_id", nargs="?", metavar="ID", help="the machine's id (or --all)")
        c.add_argument("--all", action="store_true", help="every machine")
        c.set_defaults(func=func, verb=verb)
    h = sub.add_parser("history", help="a machine's update events, oldest first")
    h.add_argument("machine_id", metavar="ID", help="the machine's id (/etc/machine-id)")
    add_output(h, help="table (default) or json: a list of {time, event, version, detail}")
    h.set_defaults(func=cmd_history)
    c = sub.add_parser("clear", help="let machines install a release marked bad again")
    c.add_argument("release_id", metavar="RELEASE_ID", help="as update status shows it")
    c.set_defaults(func=cmd_clear)
    k = sub.add_parser("canary", help="name a machine a canary: the others install a"
                       " release once a canary passed its health gate with it")  # fmt: skip
    k.add_argument("machine_id", metavar="ID", help="the machine's id")
    k.add_argument("--remove", action="store_true", help="no longer a canary")
    k.set_defaults(func=cmd_canary)
    s = sub.add_parser("set", help="channel, strategy or windows of a machine (or --all:"
                       " the default), over corral-updated's flags")  # fmt: skip
    s.add_argument("machine_id", nargs="?", metavar="ID", help="the machine's id (or --all)")
    s.add_argument("--all", action="store_true", help="the cluster's default")
    s.add_argument("--channel", help="the mirror channel to follow, e.g. stable, beta")
    s.add_argument("--strategy", choices=STRATEGIES, help="how a staged update reboots")
    s.add_argument("--window", action="append", metavar="'DAYS HH:MM LENGTH [ZONE]'",
                   help="maintenance window (repeat); replaces the windows set before")
    s.add_argument("--any-time", action="store_true", help="no windows: reboot any time")
    s.set_defaults(func=cmd_set)
    u = sub.add_parser("unset", help="take settings from the layer below again")
    u.add_argument("machine_id", nargs="?", metavar="ID", help="the machine's id (or --all)")
    u.add_argument("--all", action="store_true", help="the cluster's default")
    for name in FIELDS:
        u.add_argument(f"--{name}", action="store_true", help=f"unset the {name} only")
    u.set_defaults(func=cmd_unset)


def _children(client: Client, key: str) -> list[tuple[str, str]]:
    try:
        node = client.get(key, recursive=True, sorted=True).node
    except KeyNotFound:
        return []
    return [(n.name, n.value or "") for n in node.nodes if not n.dir]


def _statuses(client: Client) -> list[r.MachineStatus]:
    """Each machine's status, named by its key: only that machine's updater may write
    it, so a `machine` field naming another is a claim, shown as unreadable."""
    out = []
    for name, value in _children(client, r.MACHINES):
        try:
            status = r.decode(r.MachineStatus, value)
        except r.UpdateRecordError:
            status = r.MachineStatus(name, status="?", error="unreadable status record")
        if status.machine != name:
            print(f"Warning: {r.MACHINES}/{name} claims to be machine {status.machine!r}",
                  file=sys.stderr)
            status = r.MachineStatus(name, status="?", error="status record of another machine")
        out.append(status)
    return out


def bad_releases(client: Client) -> list[r.BadRelease]:
    """Every machine's `failed` report, then the earlier layout's marks."""
    out = [r.BadRelease(v.release_id, v.version, v.machine, v.reason, v.time)
           for _, by_release in sorted(read_reports(client).items())
           for v in by_release.values() if v.verdict == r.FAILED]  # fmt: skip
    return out + legacy_bad(client)


def cmd_status(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        statuses = _statuses(client)
        bad = bad_releases(client)
        held = {name for name, _ in _children(client, r.HOLDS)}
        canaries = named_canaries(client)
        requested = _requests(client)
    if args.output == JSON:
        print(json.dumps(_status_document(statuses, bad, held, canaries, requested), indent=2))
        return 0
    rows = []
    for s in statuses:
        progress = f"{s.progress * 100:.0f}%" if s.status == r.DOWNLOADING else "-"
        detail = s.error or s.note or s.rollback or "-"
        rows.append({
            "machine": s.machine, "status": s.status, "version": s.version or "-",
            "new": s.new_version or "-", "progress": progress,
            "held": "yes" if s.machine in held or r.HOLD_ALL in held else "no",
            "channel": s.channel or "-", "strategy": s.strategy or "-",
            "windows": "; ".join(s.windows) or "any",
            "detail": f"config refused: {s.config_error}" if s.config_error else detail,
        })  # fmt: skip
    print_table(("machine", "status", "version", "new", "progress", "held", "channel",
                 "strategy", "windows", "detail"), rows, True)  # fmt: skip
    if canaries:  # none named: the lowest live machine id on each channel
        print(f"\ncanaries: {', '.join(canaries)}")
    for b in bad:
        print(f"\nbad release {b.release_id} ({b.version}): failed its health check on"
              f" {b.machine} at {b.time}: {b.reason}\n  no machine installs it until"
              f" `corralctl update clear {b.release_id}`")  # fmt: skip
    return 0


def _requests(client: Client) -> dict[str, list[str]]:
    """Requests (check, reboot) left for each machine and not consumed yet."""
    try:
        node = client.get(r.REQUESTS, recursive=True, sorted=True).node
    except KeyNotFound:
        return {}
    return {m.name: [k.name for k in m.nodes if not k.dir] for m in node.nodes if m.dir}


def _status_document(
    statuses: list[r.MachineStatus],
    bad: list[r.BadRelease],
    held: set[str],
    canaries: list[str],
    requested: dict[str, list[str]],
) -> dict[str, Any]:
    """What `update status -o json` prints: each machine's status record as corral-updated
    wrote it, plus whether it is held and the requests it has not consumed yet."""
    machines = []
    for s in statuses:
        held_now = s.machine in held or r.HOLD_ALL in held
        requests = requested.get(s.machine, [])
        machines.append({**asdict(s), "held": held_now, "requests": requests})
    return {
        "machines": machines,
        "held_all": r.HOLD_ALL in held,
        "canaries": canaries,
        "bad_releases": [asdict(b) for b in bad],
    }


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


def _mark(client: Client, key: str, value: str | None, absent: str) -> bool:
    """Sets a marker key to `value`, or removes it when `value` is None; False, having
    said `absent`, when there was no marker to remove."""
    if value is not None:
        client.set(key, value)
        return True
    try:
        client.delete(key)
    except KeyNotFound:
        print(f"Error: {absent}", file=sys.stderr)
        return False
    return True


def cmd_hold(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        if args.all == bool(args.machine_id):
            _targets(args, client)  # says what is wrong with the arguments
            return 1
        key = f"{r.HOLDS}/{r.HOLD_ALL if args.all else args.machine_id}"
        who = "every machine" if args.all else args.machine_id
        held = args.verb == "hold"
        if not _mark(client, key, "held" if held else None, f"{who} is not held"):
            return 1
    print(f"{who} held at its installed version" if held else f"{who} released: updates resume")
    return 0


def cmd_history(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        entries = _children(client, f"{r.HISTORY}/{args.machine_id}")
    if not entries:
        print(f"Error: no update history for machine {args.machine_id!r}", file=sys.stderr)
        return 1
    events = []
    for _, value in entries:
        try:
            events.append(r.decode(r.HistoryEntry, value))
        except r.UpdateRecordError:
            continue
    if args.output == JSON:
        print_json([{"time": e.time, "event": e.event, "version": e.version,
                     "detail": e.detail} for e in events])  # fmt: skip
        return 0
    for e in events:
        print(f"{e.time}  {e.event:10} {e.version or '-':12} {e.detail}")
    return 0


def cmd_clear(args: argparse.Namespace, ctx: Any) -> int:
    rid = args.release_id
    with ctx.client() as client:
        keys = [f"{r.REPORTS}/{v.machine}/{rid}" for b in read_reports(client).values()
                if (v := b.get(rid)) is not None and v.verdict == r.FAILED]  # fmt: skip
        keys += [f"{r.BAD}/{b.release_id}" for b in legacy_bad(client) if b.release_id == rid]
        if not keys:
            known = ", ".join(sorted({b.release_id for b in bad_releases(client)})) or "none"
            print(f"Error: release {rid!r} is not marked bad (marked bad: {known})",
                  file=sys.stderr)
            return 1
        for key in keys:
            with contextlib.suppress(EtcdError):  # gone meanwhile: cleared all the same
                client.delete(key)
        with contextlib.suppress(EtcdError):  # the earlier layout's canary: proven again
            client.delete(f"{r.CANARY}/{rid}")
    print(f"release {rid} cleared: machines may install it again")
    return 0


def cmd_canary(args: argparse.Namespace, ctx: Any) -> int:
    key = f"{r.CANARIES}/{args.machine_id}"
    with ctx.client() as client:
        value = None if args.remove else "canary"
        if not _mark(client, key, value, f"{args.machine_id} is not a canary"):
            return 1
    print(f"{args.machine_id} is no longer a canary" if args.remove
          else f"{args.machine_id} is a canary")  # fmt: skip
    return 0


def _config_key(args: argparse.Namespace) -> str | None:
    if args.all == bool(args.machine_id):
        print(f"Error: give a machine ID or --all, not {'both' if args.all else 'neither'}",
              file=sys.stderr)
        return None
    return f"{r.CONFIG}/{r.HOLD_ALL if args.all else args.machine_id}"


def _read_settings(client: Client, key: str) -> tuple[Settings, int | None]:
    """The record at `key` and its index (None: absent); a bad record reads as empty,
    so that setting fields replaces it."""
    try:
        node = client.get(key).node
    except KeyNotFound:
        return Settings(), None
    try:
        return parse_settings(node.value), node.modified_index
    except SettingsError:
        return Settings(), node.modified_index


def _write_settings(client: Client, key: str, settings: Settings, index: int | None) -> None:
    if not settings.as_dict():
        if index is not None:
            client.delete(key, prev_index=index)
        return
    if index is None:
        client.set(key, settings.encode(), prev_exist=False)
    else:
        client.set(key, settings.encode(), prev_index=index)


def cmd_set(args: argparse.Namespace, ctx: Any) -> int:
    if args.window and args.any_time:
        print("Error: give --window or --any-time, not both", file=sys.stderr)
        return 1
    windows = [] if args.any_time else args.window
    try:
        wanted = settings_from({"channel": args.channel, "strategy": args.strategy,
                                "windows": windows})  # fmt: skip
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if not wanted.as_dict():
        print("Error: give --channel, --strategy, --window or --any-time", file=sys.stderr)
        return 1
    with ctx.client() as client:
        key = _config_key(args)
        if key is None:
            return 1
        current, index = _read_settings(client, key)
        after = wanted.over(current)
        _write_settings(client, key, after, index)
    who = "every machine (default)" if args.all else args.machine_id
    print(f"{who}: {after.encode()}")
    return 0


def cmd_unset(args: argparse.Namespace, ctx: Any) -> int:
    names = tuple(f for f in FIELDS if getattr(args, f)) or FIELDS
    with ctx.client() as client:
        key = _config_key(args)
        if key is None:
            return 1
        current, index = _read_settings(client, key)
        if index is None:
            print(f"Error: nothing is set at {key}", file=sys.stderr)
            return 1
        after = current.without(names)
        _write_settings(client, key, after, index)
    print(f"{args.machine_id or 'every machine (default)'}: {after.encode()}")
    return 0
