"""Light agents for the fleet scale phase: many simulated machines in one process.

    python -m bench.phases.fleet_sim ENDPOINT FIRST COUNT TTL

Each simulated machine does through the real store what a real agent does: it writes
its machine record with a TTL and refreshes it at a third of the TTL, and when the
engine schedules a unit to it, reports the unit `active` in `states/<machine>/<unit>`
(and deletes that report when the unit is scheduled away). What they skip: no
executor (no processes are started), one shared watch of `/_corral` per process
instead of one per machine, and no engine candidacy. The process prints
"ready" once every record is written, runs until its stdin closes, then prints one
JSON line of its request counts.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time

from corral.client import KEY_NOT_FOUND, Client, EtcdError, StoreError
from corral.fleet.mirror import Mirror, apply
from corral.fleet.records import (
    MACHINES,
    SCHEDULE,
    MachineRecord,
    RecordError,
    ScheduleRecord,
    StateRecord,
    decode,
    encode,
    key_name,
    state_key,
)

REPORTERS = 4  # threads writing state reports, each with its own connection
HEARTBEATS = 16  # threads refreshing machine records, each with its own connection


class Machines:
    def __init__(self, endpoint: str, ids: list[str], ttl: int) -> None:
        self.endpoint = endpoint
        self.ids = set(ids)
        self.ordered = ids
        self.ttl = ttl
        self.stop = threading.Event()
        self.reports: queue.Queue[tuple[str, str, bool]] = queue.Queue()
        self.counts = {"heartbeats": 0, "state_writes": 0, "watch_events": 0, "errors": 0}
        self._lock = threading.Lock()

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def register(self) -> None:
        client = Client(self.endpoint, timeout=10)
        for mid in self.ordered:
            client.set(f"{MACHINES}/{mid}", encode(self.record(mid)), ttl=self.ttl)
        client.close()

    def record(self, mid: str) -> MachineRecord:
        return MachineRecord(mid, hostname=mid, ip="127.0.0.1", metadata={"sim": "1"})

    def heartbeat(self, mine: list[str]) -> None:
        """Refresh the records of `mine`, spread over a third of the TTL."""
        client = Client(self.endpoint, timeout=10)
        period = self.ttl / 3
        while not self.stop.is_set():
            started = time.monotonic()
            for i, mid in enumerate(mine):
                # spread refreshes over the period, as independent hosts would be
                due = started + period * i / len(mine)
                if self.stop.wait(max(0.0, due - time.monotonic())):
                    break
                try:
                    client.refresh(f"{MACHINES}/{mid}", self.ttl)
                    self._count("heartbeats")
                except EtcdError as exc:
                    self._count("errors")
                    if exc.error_code == KEY_NOT_FOUND:  # expired: a real agent rewrites it
                        with contextlib.suppress(StoreError):
                            client.create(
                                f"{MACHINES}/{mid}", encode(self.record(mid)), ttl=self.ttl
                            )
                except StoreError:
                    self._count("errors")
            self.stop.wait(max(0.0, started + period - time.monotonic()))
        client.close()

    def reporter(self) -> None:
        client = Client(self.endpoint, timeout=10)
        while True:
            item = self.reports.get()
            if item[0] == "":
                break
            name, mid, running = item
            key = state_key(mid, name)
            try:
                if not running:
                    client.delete(key)
                else:
                    client.set(key, encode(StateRecord(mid, active="active", sub="running")))
                self._count("state_writes")
            except StoreError:
                self._count("errors")
        client.close()

    def follow(self, mirror: Mirror) -> None:
        view: dict[str, str] = {}
        placed: dict[str, str] = {}  # unit -> machine of ours it runs on
        while not self.stop.is_set():
            try:
                ev = mirror.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self._count("watch_events")
            apply(view, ev)
            keys = ev.snapshot if ev.kind == "reset" else {ev.key: ev.value}
            for key in keys:
                name = key_name(key, SCHEDULE)
                if name is not None:
                    self._placement(view, placed, name)

    def _placement(self, view: dict[str, str], placed: dict[str, str], name: str) -> None:
        try:
            where = decode(ScheduleRecord, view.get(f"{SCHEDULE}/{name}")).machine
        except RecordError:
            where = None
        old = placed.get(name)
        if old is not None and old != where:
            self.reports.put((name, old, False))
            del placed[name]
        if where in self.ids and old != where:
            placed[name] = where
            self.reports.put((name, where, True))


def main(argv: list[str]) -> int:
    endpoint, first, count, ttl = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    sim = Machines(endpoint, [f"sim{i:05d}" for i in range(first, first + count)], ttl)
    sim.register()
    mirror = Mirror(endpoint, root=SCHEDULE).start()
    # several heartbeat connections, so that one slow answer does not delay every
    # machine's refresh past its TTL (independent hosts do not wait for each other)
    threads = [
        threading.Thread(target=sim.heartbeat, args=(sim.ordered[i::HEARTBEATS],), daemon=True)
        for i in range(min(HEARTBEATS, count))
    ]
    threads += [threading.Thread(target=sim.reporter, daemon=True) for _ in range(REPORTERS)]
    threads.append(threading.Thread(target=sim.follow, args=(mirror,), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # the phase closes our stdin to stop us
    sim.stop.set()
    mirror.stop()
    for _ in range(REPORTERS):
        sim.reports.put(("", "", False))
    for t in threads:
        t.join(timeout=10)
    print(json.dumps(sim.counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
