"""corralctl machine: list the machines running corral-fleet, drain and undrain them,
change their metadata at runtime.

A machine is the one its record's key names; a record claiming another machine's id,
or unreadable, is left out of the listing with a warning, and refused by the changes.

Changes are compare-and-swap on the machine record (prevIndex) and keep the record's
remaining TTL, so the agent's heartbeat keeps owning its expiry.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corral.client import Client
from corral.ctl.output import JSON, add_output, print_json
from corral.etcd_errors import KeyNotFound, TestFailed
from corral.fleet.cluster import Cluster
from corral.fleet.metadata import MetadataError, format_metadata, parse_metadata
from corral.fleet.records import MACHINES, MachineRecord, encode, machine_record
from corral.fleet.table import FieldError, choose_fields, print_table

FIELDS = ("machine", "ip", "metadata", "hostname", "drained", "version")
DEFAULT = ("machine", "ip", "metadata")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("machine", help="machines running corral-fleet")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    ls = sub.add_parser("list", help="MACHINE IP METADATA of every live machine")
    ls.add_argument("--full", action="store_true", help="do not shorten machine ids")
    ls.add_argument("--no-legend", action="store_true", help="no header line")
    ls.add_argument("--fields", help=f"comma-separated, from: {','.join(FIELDS)}")
    add_output(ls, help="table (default) or json: a list of {machine, ip, metadata (an"
               " object), hostname, drained (true or false), version}, ids in full")
    ls.set_defaults(func=cmd_list)
    for verb, helptext in (("drain", "move every unit away"), ("undrain", "accept units again")):
        d = sub.add_parser(verb, help=helptext)
        d.add_argument("machine_id", metavar="ID",
                       help="the machine's full id (machine list --full)")
        d.set_defaults(func=cmd_drain, drained=verb == "drain")
    sm = sub.add_parser("set-metadata", help="change metadata (KEY= removes KEY)")
    sm.add_argument("machine_id", metavar="ID", help="the machine's full id")
    sm.add_argument("metadata", metavar="KEY=VALUE[,KEY=VALUE...]",
                    help="metadata to set; KEY= with no value removes KEY")
    sm.set_defaults(func=cmd_set_metadata)


def cmd_list(args: argparse.Namespace, ctx: Any) -> int:
    try:
        fields = choose_fields(args.fields, DEFAULT, FIELDS)
    except FieldError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    with ctx.client() as client:
        cluster = Cluster.read(client)
    for problem in cluster.problems:  # a machine is never listed under a name it claims
        print(f"Warning: {problem}", file=sys.stderr)
    if args.output == JSON:
        print_json([{"machine": mid, "ip": m.ip, "metadata": m.metadata,
                     "hostname": m.hostname, "drained": m.drained, "version": m.version}
                    for mid, m in sorted(cluster.machines.items())])  # fmt: skip
        return 0
    rows = []
    for mid, m in sorted(cluster.machines.items()):
        rows.append(
            {
                "machine": mid if args.full else mid[:8] + ("..." if len(mid) > 8 else ""),
                "ip": m.ip or "-",
                "metadata": format_metadata(m.metadata) or "-",
                "hostname": m.hostname or "-",
                "drained": "true" if m.drained else "false",
                "version": m.version or "-",
            }
        )
    print_table(fields, rows, not args.no_legend)
    return 0


def _modify(client: Client, machine_id: str, change: Any) -> MachineRecord:
    key = f"{MACHINES}/{machine_id}"
    for _ in range(20):
        try:
            node = client.get(key).node
        except KeyNotFound as exc:
            raise SystemExit(_no_machine(machine_id)) from exc
        record = machine_record(machine_id, node.value)
        change(record)
        try:
            client.set(key, encode(record), ttl=node.ttl or None, prev_index=node.modified_index)
            return record
        except (KeyNotFound, TestFailed):
            pass
    raise SystemExit(f"Error: machine {machine_id} kept changing; try again")


def _no_machine(machine_id: str) -> str:
    return f"Error: no live machine {machine_id!r} (see `corralctl machine list --full`)"


def cmd_drain(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        _modify(client, args.machine_id, lambda r: setattr(r, "drained", args.drained))
    print(f"machine {args.machine_id} {'drained' if args.drained else 'undrained'}")
    return 0


def cmd_set_metadata(args: argparse.Namespace, ctx: Any) -> int:
    try:
        changes = parse_metadata(args.metadata)
    except MetadataError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1

    def change(record: MachineRecord) -> None:
        for k, v in changes.items():
            if v:
                record.metadata[k] = v
            else:
                record.metadata.pop(k, None)

    with ctx.client() as client:
        record = _modify(client, args.machine_id, change)
    print(json.dumps(record.metadata, sort_keys=True))
    return 0
