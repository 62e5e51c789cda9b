"""corralctl lock: the reboot lock, as locksmithctl shows and changes it.

`lock` and `unlock` act for a holder id (default: this host's /etc/machine-id): its own
key `reboot-lock/holders/<id>/<lock>` (see corral.updated.reboot_lock). A place taken by
hand gets a heartbeat key with `--ttl` (default 1h), since no daemon keeps it alive:
after that, machines that want the lock no longer count it. A machine's updater
credential may lock and unlock for that machine alone; `set-max` and places of other
holders need an operator's credentials (corral-admin).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from corral.ctl.output import JSON, add_output, print_json
from corral.duration import HELP as DURATION_HELP
from corral.duration import DurationError, parse_duration
from corral.updated.reboot_lock import LockContended, RebootLock
from corral.updated.records import ALIVE
from corral.updated.semaphore import SemaphoreError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lock", help="the reboot lock (locksmith's semaphore)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for verb, helptext in (("status", "available places, max and holders"),
                           ("lock", "take a place"), ("unlock", "give a place back"),
                           ("set-max", "how many machines may reboot at once")):  # fmt: skip
        c = sub.add_parser(verb, help=helptext)
        c.add_argument("--group", help="a group's semaphore instead of the global one")
        if verb in ("lock", "unlock"):
            c.add_argument("--id", dest="holder", help="holder (default: /etc/machine-id)")
        if verb == "lock":
            c.add_argument("--ttl", default="1h", metavar="DURATION",
                           help="how long the hand-taken place lasts (default 1h;"
                           f" {DURATION_HELP})")
        if verb == "set-max":
            c.add_argument("max", type=int, help="the new maximum (at least 1)")
        if verb == "status":
            add_output(c, help="table (default) or json: {available, max, holders: a list"
                       " of {machine, expired (true when its heartbeat is gone)}}")
        c.set_defaults(func=cmd_lock, verb=verb)


def _holder(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        with open("/etc/machine-id") as f:
            found = f.read().strip()
    except OSError:
        found = ""
    if not found:
        raise SystemExit("Error: no /etc/machine-id here; pass --id")
    return found


def cmd_lock(args: argparse.Namespace, ctx: Any) -> int:
    with ctx.client() as client:
        lock = RebootLock(client, args.group)
        try:
            return _run(args, client, lock)
        except (SemaphoreError, LockContended) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1


def _run(args: argparse.Namespace, client: Any, lock: RebootLock) -> int:
    if args.verb == "status":
        sem = lock.read()
        expired = lock.expired_holders(sem)
        if args.output == JSON:
            print_json({"available": sem.semaphore, "max": sem.max,
                        "holders": [{"machine": h, "expired": h in expired}
                                    for h in sem.holders]})  # fmt: skip
            return 0
        print(f"Available: {sem.semaphore}\nMax: {sem.max}")
        if sem.holders:
            print("\nMACHINE ID")
            for h in sem.holders:
                print(h + ("  (expired: no heartbeat)" if h in expired else ""))
        return 0
    if args.verb == "set-max":
        old = lock.max()
        sem = lock.set_max(args.max)
        print(f"Old: {old}\nNew: {sem.max}")
        return 0
    holder = _holder(args.holder)
    if args.verb == "lock":
        try:
            ttl = parse_duration(args.ttl)
        except DurationError as exc:
            print(f"Error: --ttl: {exc}", file=sys.stderr)
            return 1
        client.set(f"{ALIVE}/{holder}", "held by hand", ttl=max(1, int(ttl)))
        if not lock.acquire(holder):
            sem = lock.read()
            print(f"Error: semaphore is at 0 (held by {', '.join(sem.holders)})",
                  file=sys.stderr)
            return 1
        print(f"locked for {holder}")
        return 0
    if not lock.release(holder):
        print(f"Error: {holder} does not hold the lock", file=sys.stderr)
        return 1
    print(f"unlocked for {holder}")
    return 0
