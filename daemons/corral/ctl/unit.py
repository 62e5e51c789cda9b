"""corralctl unit: fleetctl's unit commands over the store.

submit/load/start/stop/unload change `units/<name>` (contents, desired state) with
compare-and-swap; the engine and agents do the rest, and these commands then wait
(unless --no-block) until the agents report the state asked for, checking every half
second up to --block-attempts times (0: no limit). An instance `web@1.service` that
was never submitted is created from its template `web@.service`.
"""

from __future__ import annotations

import argparse
import io
import os
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from corral.client import Client
from corral.ctl.output import JSON, add_output, print_json
from corral.etcd_errors import KeyNotFound, NodeExist, TestFailed
from corral.fleet import names
from corral.fleet.cluster import Cluster
from corral.fleet.records import MAX_UNIT_SIZE_CEILING, UNITS, UnitRecord, decode, encode
from corral.fleet.spec import MAX_UNIT_BYTES, SubmitError, content_hash, unit_spec
from corral.fleet.table import FieldError, choose_fields, print_table

LIST_FIELDS = ("unit", "machine", "active", "sub", "load", "failures", "pid", "hash", "reason")
LIST_DEFAULT = ("unit", "machine", "active", "sub", "reason")
FILES_FIELDS = ("unit", "hash", "dstate", "state", "target", "desc", "global")
FILES_DEFAULT = ("unit", "hash", "dstate", "state", "target")
POLL = 0.5


class UnitCommandError(Exception):
    """A unit command that cannot go on; the message is for the user."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("unit", help="units scheduled by corral-fleet")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def blocking(q: argparse.ArgumentParser) -> None:
        q.add_argument("--no-block", action="store_true", help="do not wait for the agents")
        q.add_argument(
            "--block-attempts", type=int, default=0, help="checks before giving up (0: none)"
        )

    def sized(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--max-unit-size",
            type=int,
            default=MAX_UNIT_BYTES,
            metavar="BYTES",
            help=f"refuse unit files larger than this (default {MAX_UNIT_BYTES}; the agents "
            "have their own, --max-unit-size of corral-fleet)",
        )

    s = sub.add_parser("submit", help="store unit files (desired state inactive)")
    s.add_argument("units", nargs="+", metavar="FILE", help="unit files to store")
    s.add_argument("--replace", action="store_true", help="replace differing contents")
    sized(s)
    s.set_defaults(func=cmd_change, desired=None)
    for verb, desired, helptext in (
        ("load", "loaded", "load on a machine, do not start"),
        ("start", "launched", "place and start"),
        ("stop", "loaded", "stop (the unit stays loaded where it is)"),
        ("unload", "inactive", "stop and unload everywhere"),
    ):
        q = sub.add_parser(verb, help=helptext)
        q.add_argument("units", nargs="+", metavar="FILE|NAME",
                       help="unit files, or names of units already submitted")
        q.add_argument("--replace", action="store_true", help="replace differing contents")
        blocking(q)
        sized(q)
        q.set_defaults(func=cmd_change, desired=desired, verb=verb)
    d = sub.add_parser("destroy", help="remove units from the cluster")
    d.add_argument("units", nargs="+", metavar="NAME", help="unit names")
    d.set_defaults(func=cmd_destroy)
    r = sub.add_parser("restart", help="restart launched units")
    r.add_argument("units", nargs="+", metavar="NAME", help="unit names")
    r.add_argument("--rolling", action="store_true", help="one machine at a time")
    blocking(r)
    r.set_defaults(func=cmd_restart)
    ls = sub.add_parser("list", help="UNIT MACHINE ACTIVE SUB REASON of units, placed or not")
    ls.add_argument("--full", action="store_true", help="do not shorten machine ids and hashes")
    ls.add_argument("--no-legend", action="store_true", help="no header line")
    ls.add_argument("--fields", help=f"comma-separated, from: {','.join(LIST_FIELDS)}")
    add_output(ls, help="table (default) or json: a list of {unit, machine (null when"
               " placed nowhere), active, sub, load, failures, pid, hash, reason}, in full")
    ls.set_defaults(func=cmd_list)
    f = sub.add_parser("files", help="UNIT HASH DSTATE STATE TARGET of every unit")
    f.add_argument("--full", action="store_true", help="do not shorten machine ids and hashes")
    f.add_argument("--no-legend", action="store_true", help="no header line")
    f.add_argument("--fields", help=f"comma-separated, from: {','.join(FILES_FIELDS)}")
    add_output(f, help="table (default) or json: a list of {unit, hash, dstate, state,"
               " target (a machine id or null), global (true or false), desc}, in full")
    f.set_defaults(func=cmd_files)
    c = sub.add_parser("cat", help="print a unit's file")
    c.add_argument("name", metavar="NAME", help="the unit's name")
    c.set_defaults(func=cmd_cat)
    st = sub.add_parser("status", help="a unit's state on each machine, and its last log lines")
    st.add_argument("units", nargs="+", metavar="NAME", help="unit names")
    st.add_argument("--lines", "-n", type=int, default=10,
                    help="log lines to show per machine (0: none)")
    add_output(st, help="table (default) or json: a list of {unit, desc, dstate, unplaced"
               " (why placed nowhere, or null), machines: a list of {machine, load, hash,"
               " active, sub, failures, pid, reason, log (lines)}}")
    st.set_defaults(func=cmd_status)
    j = sub.add_parser("journal", help="a unit's log, from the machine running it")
    j.add_argument("name", metavar="NAME", help="the unit's name")
    j.add_argument("--lines", "-n", type=int, default=10, help="how many last lines to show")
    j.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    j.add_argument("--machine", help="machine id, for a global unit")
    j.set_defaults(func=cmd_journal)


def _fail(exc: Exception) -> int:
    print(f"Error: {exc}", file=sys.stderr)
    return 1


# -- submit / load / start / stop / unload ---------------------------------------------


def _resolve(arg: str, max_bytes: int) -> tuple[str, str | None]:
    """A FILE (path to a unit file) or a NAME: (name, contents or None)."""
    if os.sep in arg or os.path.isfile(arg):
        name, contents = os.path.basename(arg), _read_unit_file(arg, max_bytes)
    else:
        name, contents = arg, None
    _check_name(name)
    return name, contents


def _read_unit_file(path: str, max_bytes: int) -> str:
    """The file's text: a regular file (a FIFO or device would block or never end),
    at most `max_bytes` long (read no further), UTF-8 as systemd requires."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnitCommandError(f"cannot read {path}: not a regular file")
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UnitCommandError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise UnitCommandError(
            f"{path}: larger than the limit of {max_bytes} bytes (--max-unit-size)"
        )
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise UnitCommandError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc


def _printable_stdout() -> None:
    """Store values are any JSON string: one with a lone surrogate is printed escaped
    rather than end the listing with a UnicodeEncodeError."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def _bad_name(units: list[str]) -> UnitCommandError | None:
    """The error for the first invalid name (one would reach other keys: `../x`)."""
    for name in units:
        try:
            _check_name(name)
        except UnitCommandError as exc:
            return exc
    return None


def _check_name(name: str) -> None:
    try:
        names.check_name(name)
    except names.UnitNameError as exc:
        raise UnitCommandError(str(exc)) from exc


def _store_unit(
    client: Client,
    name: str,
    contents: str | None,
    desired: str | None,
    replace: bool,
    max_bytes: int,
) -> None:
    key = f"{UNITS}/{name}"
    for _ in range(20):
        try:
            node = client.get(key).node
            record: UnitRecord | None = decode(UnitRecord, node.value)
        except KeyNotFound:
            node, record = None, None
        if record is None and contents is None and names.is_instance(name):
            contents = _template_contents(client, name)
        new = _changed_record(name, record, contents, desired, replace, max_bytes)
        try:
            if node is None:
                client.create(key, encode(new))
            elif new != record:
                client.set(key, encode(new), prev_index=node.modified_index)
            return
        except (NodeExist, TestFailed, KeyNotFound):
            pass
    raise UnitCommandError(f"unit {name} kept changing; try again")


def _changed_record(
    name: str,
    record: UnitRecord | None,
    contents: str | None,
    desired: str | None,
    replace: bool,
    max_bytes: int,
) -> UnitRecord:
    """The record `record` becomes with the given contents and desired state, checked
    as the scheduler will check it."""
    if record is None:
        if contents is None:
            raise UnitCommandError(f"unit {name} not found; submit its file first")
        new = UnitRecord(name, contents, desired or "inactive")
    else:
        if contents is not None and contents != record.contents and not replace:
            raise UnitCommandError(
                f"unit {name} already exists with different contents; "
                "use --replace to replace it"
            )
        new = UnitRecord(
            name,
            contents if contents is not None else record.contents,
            desired or record.desired,
            record.restart,
        )
    if names.is_template(name) and new.desired != "inactive":
        raise UnitCommandError(
            f"{name} is a template: start an instance such as "
            f"{names.prefix(name)}@1.{names.suffix(name)}"
        )
    try:
        unit_spec(name, new.contents, max_bytes)
    except SubmitError as exc:
        raise UnitCommandError(str(exc)) from exc
    return new


def _template_contents(client: Client, name: str) -> str | None:
    try:
        return decode(
            UnitRecord, client.get(f"{UNITS}/{names.template_of(name)}").node.value
        ).contents
    except KeyNotFound:
        return None


def cmd_change(args: argparse.Namespace, ctx: Any) -> int:
    if not 1 <= args.max_unit_size <= MAX_UNIT_SIZE_CEILING:
        return _fail(
            UnitCommandError(f"--max-unit-size must be 1 to {MAX_UNIT_SIZE_CEILING}")
        )
    try:
        resolved = [_resolve(a, args.max_unit_size) for a in args.units]
        with ctx.client() as client:
            for name, contents in resolved:
                _store_unit(
                    client, name, contents, args.desired, args.replace, args.max_unit_size
                )
            if args.desired is None or args.no_block:
                return 0
            done = _reached(args.desired, [n for n, _ in resolved])
            return _wait(client, done, args.block_attempts, args.verb, [n for n, _ in resolved])
    except UnitCommandError as exc:
        return _fail(exc)


def _reached(desired: str, units: list[str]) -> Callable[[Cluster], list[str]]:
    """A check returning the units that have not reached `desired` yet."""

    def waiting(c: Cluster) -> list[str]:
        out = []
        for u in units:
            states = c.states.get(u, {})
            global_ = _is_global(c, u)
            target = c.schedule.get(u)
            if desired == "inactive":
                ok = not states
            elif global_:
                ok = True  # as fleetctl: a global unit is not waited for
            elif target is None or target not in states:
                ok = False
            elif desired == "launched":
                ok = states[target].active == "active"
            else:
                ok = states[target].active in ("inactive", "failed")
            if not ok:
                out.append(u)
        return out

    return waiting


def _is_global(c: Cluster, unit: str) -> bool:
    record = c.units.get(unit)
    if record is None:
        return False
    try:
        # the size was checked on the way in: a listing shows what is stored
        return unit_spec(unit, record.contents, sys.maxsize).options.global_
    except SubmitError:
        return False


def _wait(
    client: Client,
    waiting: Callable[[Cluster], list[str]],
    attempts: int,
    verb: str,
    units: list[str],
) -> int:
    n = 0
    while True:
        cluster = Cluster.read(client)
        left = waiting(cluster)
        refused = _refused(cluster, left)
        if refused:
            # waiting longer changes nothing: the file must change
            for line in refused:
                print(f"Error: {line}", file=sys.stderr)
            return 1
        if not left:
            for u in units:
                print(f"Unit {u} {_past(verb)}")
            return 0
        n += 1
        if attempts and n >= attempts:
            print(f"Error: {', '.join(left)} did not {verb} in time", file=sys.stderr)
            return 1
        time.sleep(POLL)


def _refused(c: Cluster, units: list[str]) -> list[str]:
    """Why units still waited for can never get there: the executor of the machine
    they were placed on refused their file. (What the engine refuses, this command
    refused before writing.)"""
    out = []
    for u in units:
        record = c.units.get(u)
        current = content_hash(record.contents) if record else ""
        for mid, s in sorted(c.states.get(u, {}).items()):
            # a state of these contents (not one left from the file it replaced)
            if s.hash == current and s.active == "failed" and s.reason.startswith("refused:"):
                out.append(f"{u} on {mid}: {s.reason}")
    return out


def _past(verb: str) -> str:
    return {"load": "loaded", "start": "launched", "stop": "stopped", "unload": "unloaded"}.get(
        verb, "restarted"
    )


# -- destroy / restart ---------------------------------------------------------------


def cmd_destroy(args: argparse.Namespace, ctx: Any) -> int:
    if bad := _bad_name(args.units):
        return _fail(bad)
    with ctx.client() as client:
        for name in args.units:
            try:
                client.delete(f"{UNITS}/{name}")
            except KeyNotFound:
                print(f"Error: unit {name} does not exist", file=sys.stderr)
                return 1
            print(f"Destroyed {name}")
    return 0


def cmd_restart(args: argparse.Namespace, ctx: Any) -> int:
    if bad := _bad_name(args.units):
        return _fail(bad)
    with ctx.client() as client:
        for name in args.units:
            cluster = Cluster.read(client)
            if name not in cluster.units:
                return _fail(UnitCommandError(f"unit {name} does not exist"))
            machines = sorted(cluster.states.get(name, {}))
            if not machines:
                return _fail(UnitCommandError(f"unit {name} is not running anywhere"))
            groups = [[m] for m in machines] if args.rolling else [machines]
            for group in groups:
                token = uuid.uuid4().hex[:12]
                _set_restart(client, name, group, token)
                if args.no_block:
                    continue
                code = _wait(
                    client,
                    _restarted(name, group, token),
                    args.block_attempts,
                    "restart",
                    [f"{name} on {', '.join(group)}"],
                )
                if code:
                    return code
    return 0


def _restarted(name: str, group: list[str], token: str) -> Callable[[Cluster], list[str]]:
    """A check returning the live machines of `group` not yet running `name` again
    after the restart asked with `token`."""

    def waiting(c: Cluster) -> list[str]:
        states = c.states.get(name, {})
        return [
            m
            for m in group
            if m in c.machines
            and not (m in states and states[m].restart == token and states[m].active == "active")
        ]

    return waiting


def _set_restart(client: Client, name: str, machines: list[str], token: str) -> None:
    key = f"{UNITS}/{name}"
    for _ in range(20):
        node = client.get(key).node
        record = decode(UnitRecord, node.value)
        for m in machines:
            record.restart[m] = token
        try:
            client.set(key, encode(record), prev_index=node.modified_index)
            return
        except TestFailed:
            pass
    raise UnitCommandError(f"unit {name} kept changing; try again")


# -- listings ------------------------------------------------------------------------


Rows = Callable[[Cluster, argparse.Namespace], list[dict[str, str]]]


def _listing(args: argparse.Namespace, ctx: Any, default: Sequence[str], known: Sequence[str],
             document: Callable[[Cluster], Any], table: Rows) -> int:
    """A listing of the cluster: the chosen fields as a table, or its JSON document."""
    _printable_stdout()
    try:
        fields = choose_fields(args.fields, default, known)
    except FieldError as exc:
        return _fail(exc)
    with ctx.client() as client:
        c = Cluster.read(client)
    if args.output == JSON:
        print_json(document(c))
        return 0
    print_table(fields, table(c, args), not args.no_legend)
    return 0


def cmd_list(args: argparse.Namespace, ctx: Any) -> int:
    return _listing(args, ctx, LIST_DEFAULT, LIST_FIELDS, _list_document, _list_rows)


def _list_rows(c: Cluster, args: argparse.Namespace) -> list[dict[str, str]]:
    rows = []
    for unit in sorted(c.states):
        for mid, s in sorted(c.states[unit].items()):
            rows.append(
                {
                    "unit": unit,
                    "machine": c.machine_label(mid, args.full),
                    "active": s.active,
                    "sub": s.sub,
                    "load": s.load,
                    "failures": str(s.failures),
                    "pid": str(s.main_pid or "-"),
                    "hash": s.hash if args.full else s.hash[:7],
                    "reason": s.reason or "-",
                }
            )
    for unit, reason in c.unplaced.items():
        if unit in c.units and unit not in c.states:  # wanted, placed nowhere: say why
            rows.append({"unit": unit, "active": "inactive", "sub": "dead", "reason": reason})
    rows.sort(key=lambda r: r["unit"])
    return rows


def cmd_files(args: argparse.Namespace, ctx: Any) -> int:
    return _listing(args, ctx, FILES_DEFAULT, FILES_FIELDS, _files_document, _files_rows)


def _files_rows(c: Cluster, args: argparse.Namespace) -> list[dict[str, str]]:
    rows = []
    for name, u in sorted(c.units.items()):
        digest = content_hash(u.contents)
        global_ = _is_global(c, name)
        rows.append(
            {
                "unit": name,
                "hash": digest if args.full else digest[:7],
                "dstate": u.desired,
                "state": c.current(name) if not names.is_template(name) else "-",
                "target": "global" if global_ else c.machine_label(c.schedule.get(name), args.full),
                "desc": _description(u.contents),
                "global": "true" if global_ else "false",
            }
        )
    return rows


def _list_document(c: Cluster) -> list[dict[str, Any]]:
    """`unit list -o json`: one object per unit and machine, values in full."""
    out: list[dict[str, Any]] = []
    for unit in sorted(c.states):
        for mid, s in sorted(c.states[unit].items()):
            out.append({"unit": unit, "machine": mid, "active": s.active, "sub": s.sub,
                        "load": s.load, "failures": s.failures, "pid": s.main_pid or None,
                        "hash": s.hash, "reason": s.reason or None})  # fmt: skip
    for unit, reason in c.unplaced.items():
        if unit in c.units and unit not in c.states:
            out.append({"unit": unit, "machine": None, "active": "inactive", "sub": "dead",
                        "load": None, "failures": 0, "pid": None, "hash": None,
                        "reason": reason})  # fmt: skip
    out.sort(key=lambda row: row["unit"])
    return out


def _files_document(c: Cluster) -> list[dict[str, Any]]:
    """`unit files -o json`: one object per unit, values in full."""
    out = []
    for name, u in sorted(c.units.items()):
        global_ = _is_global(c, name)
        out.append({
            "unit": name,
            "hash": content_hash(u.contents),
            "dstate": u.desired,
            "state": c.current(name) if not names.is_template(name) else None,
            "target": None if global_ else c.schedule.get(name) or None,
            "global": global_,
            "desc": _description(u.contents),
        })
    return out


def _description(contents: str) -> str:
    try:
        from corral.fleet.unitfile import parse_unit

        return parse_unit(contents).last("Unit", "Description", "-") or "-"
    except ValueError:
        return "-"


def cmd_cat(args: argparse.Namespace, ctx: Any) -> int:
    _printable_stdout()
    if bad := _bad_name([args.name]):
        return _fail(bad)
    with ctx.client() as client:
        try:
            record = decode(UnitRecord, client.get(f"{UNITS}/{args.name}").node.value)
        except KeyNotFound:
            return _fail(UnitCommandError(f"unit {args.name} does not exist"))
    sys.stdout.write(record.contents if record.contents.endswith("\n") else record.contents + "\n")
    return 0


def cmd_status(args: argparse.Namespace, ctx: Any) -> int:
    _printable_stdout()
    if bad := _bad_name(args.units):
        return _fail(bad)
    with ctx.client() as client:
        c = Cluster.read(client)
    code = 0
    documents = []
    for name in args.units:
        if name not in c.units:
            print(f"Error: unit {name} does not exist", file=sys.stderr)
            code = 1
            continue
        if args.output == JSON:
            documents.append(_status_document(c, name, args.lines))
        else:
            _print_status(c, name, args.lines)
    if args.output == JSON:
        print_json(documents)
    return code


def _print_status(c: Cluster, name: str, lines: int) -> None:
    """One unit of `unit status` as systemctl shows one, with each machine's last
    `lines` log lines."""
    desc = _description(c.units[name].contents)
    states = c.states.get(name, {})
    print(f"● {name} - {desc}")
    print(f"   Desired: {c.units[name].desired}")
    if name in c.unplaced:
        print(f"    Placed: nowhere: {c.unplaced[name]}")
    if not states:
        print("    Active: inactive (not loaded on any machine)")
    for mid, s in sorted(states.items()):
        print(f"   Machine: {c.machine_label(mid, True)}")
        print(f"    Loaded: {s.load} (hash {s.hash[:7]})")
        print(f"    Active: {s.active} ({s.sub}), failures: {s.failures}")
        if s.reason:
            print(f"    Reason: {s.reason}")
        if s.main_pid:
            print(f"  Main PID: {s.main_pid}")
        if lines > 0:
            print()
            try:
                for line in _journal_lines(c, name, mid, lines, False):
                    print(line)
            except UnitCommandError as exc:
                print(f"  (no log: {exc})")
    print()


def _status_document(c: Cluster, name: str, lines: int) -> dict[str, Any]:
    """One unit of `unit status -o json`; `log` holds what the table prints below it."""
    machines = []
    for mid, s in sorted(c.states.get(name, {}).items()):
        try:
            log = list(_journal_lines(c, name, mid, lines, False)) if lines > 0 else []
        except UnitCommandError as exc:
            log = [f"(no log: {exc})"]
        machines.append({"machine": mid, "load": s.load, "hash": s.hash, "active": s.active,
                         "sub": s.sub, "failures": s.failures, "pid": s.main_pid or None,
                         "reason": s.reason or None, "log": log})  # fmt: skip
    return {"unit": name, "desc": _description(c.units[name].contents),
            "dstate": c.units[name].desired, "unplaced": c.unplaced.get(name),
            "machines": machines}  # fmt: skip


def cmd_journal(args: argparse.Namespace, ctx: Any) -> int:
    _printable_stdout()
    if bad := _bad_name([args.name]):
        return _fail(bad)
    with ctx.client() as client:
        c = Cluster.read(client)
    mid = args.machine or c.schedule.get(args.name)
    if mid is None:
        running = sorted(c.states.get(args.name, {}))
        if len(running) != 1:
            return _fail(
                UnitCommandError(
                    f"unit {args.name} is not on one machine"
                    + (f" (on {', '.join(running)}: pass --machine)" if running else "")
                )
            )
        mid = running[0]
    try:
        for line in _journal_lines(c, args.name, mid, args.lines, args.follow):
            print(line, flush=True)
    except UnitCommandError as exc:
        return _fail(exc)
    return 0


def _journal_lines(c: Cluster, name: str, mid: str, lines: int, follow: bool) -> Any:
    machine = c.machines.get(mid)
    if machine is None or not machine.journal:
        raise UnitCommandError(f"machine {mid} is not live or serves no journal")
    query = urllib.parse.urlencode({"lines": lines, "follow": "1" if follow else "0"})
    url = f"{machine.journal}/journal/{urllib.parse.quote(name)}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=None if follow else 10) as resp:
            for raw in resp:
                yield raw.decode(errors="replace").rstrip("\n")
    except urllib.error.HTTPError as exc:
        raise UnitCommandError(f"{mid}: {exc.reason}") from exc
    except OSError as exc:
        raise UnitCommandError(f"cannot reach the agent of {mid}: {exc}") from exc
