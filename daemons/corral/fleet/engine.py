"""The engine: while this agent holds `engine/leader`, place units and write
`schedule/<name>`.

When elected it follows what placing needs (`ENGINE_SCOPES`: every machine record,
unit, placement and state report) with watched keys of its own (a reset with those keys,
then every change), feeds each event to the Scheduler, which works incrementally (see
scheduler.py), and writes only the resulting changes; a burst of changes is written
over a few connections at once. After a failed write it starts again from the watched keys'
copy rather than trust what it believes it wrote. While another agent is the engine it
waits for the leader key to go (election.py), asking the store nothing.

Every schedule write is conditional on the value the engine last saw (prevValue /
prevExist=false), so two engines can never both place a unit: a write based on a
stale view fails and the engine adopts what is stored.

Records in the store are untrusted: one that cannot be used is skipped with one log
line (quietlog), and a unit whose record or file is refused gets the reason in
`schedule/<name>` instead of a machine, as does a unit no machine can take. A write
refused for one key (a directory where the record belongs) is logged and skipped,
never retried in a loop.

Unit states of the earlier `states/<unit>/<machine>` layout (left by an older agent)
are deleted as the engine sees them: nothing reads them any more, and the store roles
no longer let an agent write there.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from corral.client import Client, EtcdError, StoreError
from corral.etcd_errors import CommandFailed, InvalidRequest, KeyNotFound, NodeExist, TestFailed
from corral.fleet import metrics, names
from corral.fleet.election import Leadership
from corral.fleet.quietlog import QuietLog
from corral.fleet.records import (
    MACHINES,
    SCHEDULE,
    STATES,
    UNITS,
    FleetRecordError,
    ScheduleRecord,
    StateRecord,
    UnitRecord,
    decode,
    encode,
    key_name,
    legacy_state_key,
    machine_key_id,
    machine_record,
    state_key,
    state_key_parts,
)
from corral.fleet.scheduler import Change, Machine, Scheduler
from corral.fleet.spec import MAX_UNIT_BYTES, SubmitError, UnitSpec, unit_spec
from corral.fleet.watched_keys import CopyChange, WatchedKeys

log = logging.getLogger(__name__)
WRITERS = 4  # connections writing a burst of placements
CONFLICTS = (KeyNotFound, TestFailed, NodeExist)  # someone else wrote the key
# a machine gone longer than this is forgotten by the failover timer (its units are
# placed within seconds, or wait for a machine that can take them: not a failover time)
FAILOVER_TIMER_SECONDS = 3600.0
# what the elected engine follows: machines' records (their expiry is a failover), units,
# placements and state reports (failure counts); not the update daemons' keys
ENGINE_SCOPES = (MACHINES, UNITS, SCHEDULE, STATES)


class Engine:
    """The scheduler's loop while elected: events in, conditional schedule writes out."""

    def __init__(
        self,
        endpoint: str,
        machine_id: str,
        ttl: int,
        max_failures: int = 3,
        max_unit_bytes: int = MAX_UNIT_BYTES,
    ) -> None:
        self.endpoint = endpoint
        self.machine_id = machine_id
        self.ttl = ttl
        self.max_failures = max_failures
        self.max_unit_bytes = max_unit_bytes
        self.quiet = QuietLog(log)
        self._specs: dict[str, UnitSpec] = {}  # parse cache: name -> spec
        self._keys: set[str] = set()  # keys known to exist, for directory deletes
        self._legacy: set[str] = set()  # earlier-layout state keys still to delete
        self._writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="engine-write")
        self._local = threading.local()  # a client per writer thread
        self._down_since: dict[str, float] = {}  # machine -> when its record vanished
        self._wake = threading.Event()  # a wait for the leader key to go is over

    def halt(self) -> None:
        """End a wait for the leader key at once (the agent is stopping)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Campaign and place until `stop` (then `halt()` ends a wait at once)."""
        client = self._client()
        leadership = Leadership(client, self.machine_id, self.ttl, self._client)
        watched: WatchedKeys | None = None
        events: queue.Queue[CopyChange] | None = None
        sched = Scheduler(self.max_failures)
        while not stop.is_set():
            elected, reachable = _campaign(leadership)
            metrics.ENGINE_LEADER.set(1 if elected else 0)
            if not elected:
                metrics.MACHINES.clear()  # only the engine counts the cluster's machines
                if watched is not None:
                    log.info("engine: no longer the leader")
                    _leave(watched, events)
                    watched = events = None
                self._wait_to_campaign(leadership, reachable, stop)
                continue
            if watched is None or events is None:
                log.info("engine: elected on %s", self.machine_id)
                watched = WatchedKeys(self.endpoint, ENGINE_SCOPES).start()
                events = watched.events
                sched = Scheduler(self.max_failures)  # the first event is a reset
            renew_at = time.monotonic() + self.ttl / 3
            while not stop.is_set() and time.monotonic() < renew_at:
                batch = _burst(events, renew_at - time.monotonic())
                if not batch:
                    break
                for ev in batch:
                    if ev.kind == "reset":
                        sched = Scheduler(self.max_failures)
                    self.feed(sched, ev)
                if not leadership.held:
                    break
                self._delete_legacy(client)
                try:
                    self._write(client, sched)
                    _count_machines(sched)
                except StoreError as exc:
                    metrics.store_error("schedule", exc)
                    # some writes may be lost: start again from the watched keys' copy of
                    # the store rather than trust what this scheduler believes it wrote
                    log.warning("engine: writing the schedule: %s", exc)
                    watched.unsubscribe(events)
                    events = watched.subscribe()
                    sched = Scheduler(self.max_failures)
        if watched is not None:
            _leave(watched, events)
        leadership.resign()
        metrics.ENGINE_LEADER.set(0)
        metrics.MACHINES.clear()
        client.close()

    # -- events -> scheduler ---------------------------------------------------------

    def feed(self, sched: Scheduler, ev: CopyChange) -> None:
        """Apply one watched keys' event (a reset must come with a fresh Scheduler)."""
        if ev.kind == "reset":
            self._keys = set(ev.snapshot)
            items = sorted(ev.snapshot.items(), key=lambda kv: _order(kv[0]))
            for key, value in items:
                self._on_set(sched, key, value)
            return
        if ev.kind == "set":
            self._keys.add(ev.key)
            self._on_set(sched, ev.key, ev.value or "")
            return
        if ev.key.endswith("/"):
            # a whole directory went (rare: by hand); the only scan of known keys. Not
            # a recursive feed: a known key that itself ends in "/" would delete itself
            # forever.
            for key in sorted(k for k in self._keys if k.startswith(ev.key)):
                self._forget(sched, key)
            return
        self._forget(sched, ev.key)

    def _forget(self, sched: Scheduler, key: str) -> None:
        self._keys.discard(key)
        if (mid := machine_key_id(key)) is not None:
            if mid in sched.machines:
                self._machine_vanished(mid)
            sched.machine_down(mid)
        elif (name := key_name(key, UNITS)) is not None:
            sched.unit_removed(name)
        elif (name := key_name(key, SCHEDULE)) is not None:
            sched.placed(name, None)

    def _on_set(self, sched: Scheduler, key: str, value: str) -> None:
        try:
            if key.startswith(MACHINES + "/"):
                mid = machine_key_id(key)
                if mid is None:
                    raise FleetRecordError("the key's last part is not a machine id")
                m = machine_record(mid, value)
                self._down_since.pop(mid, None)
                sched.machine_up(Machine(mid, dict(m.metadata), m.unschedulable))
            elif (name := key_name(key, UNITS)) is not None:
                self._on_unit(sched, name, value)
            elif (name := key_name(key, SCHEDULE)) is not None:
                placed = decode(ScheduleRecord, value)
                sched.placed(name, placed.machine or None, placed.reason)
            elif (parts := state_key_parts(key)) is not None:
                mid, name = parts
                s = decode(StateRecord, value)
                sched.failed(name, mid, s.failures)
            elif legacy_state_key(key):
                self._legacy.add(key)
        except (FleetRecordError, SubmitError, ValueError) as exc:
            self.quiet.warning(key, f"engine: ignoring {key:.300}: {exc}")

    def _machine_vanished(self, mid: str) -> None:
        now = time.monotonic()
        for old in [m for m, t in self._down_since.items() if now - t > FAILOVER_TIMER_SECONDS]:
            del self._down_since[old]
        self._down_since[mid] = now

    def _on_unit(self, sched: Scheduler, name: str, value: str) -> None:
        """A unit record; one that cannot be used is refused, with the reason stored
        in place of a machine (unless its name cannot be a key of its own)."""
        try:
            if names.is_template(name) and "/" not in name:
                return  # templates only lend their contents to instances
            u = decode(UnitRecord, value)
            sched.unit_set(self._spec(name, u.contents), u.desired)
            self.quiet.resolved(f"{UNITS}/{name}")
        except (FleetRecordError, SubmitError, ValueError) as exc:
            if "/" not in name and name not in (".", ".."):
                sched.unit_refused(name, str(exc)[:500])
            raise

    def _spec(self, name: str, contents: str) -> UnitSpec:
        spec = self._specs.get(name)
        if spec is None or spec.contents != contents:
            spec = unit_spec(name, contents, self.max_unit_bytes)
            self._specs[name] = spec
        return spec

    # -- scheduler -> store ------------------------------------------------------------

    def _write(self, client: Client, sched: Scheduler) -> None:
        for _ in range(10):  # conflicts are adopted and decided again, a bounded number
            changes = sched.decide()
            if not changes:
                return
            gone = {c.old for c in changes if c.old is not None and c.old not in sched.machines}
            if len(changes) == 1:
                outcomes = [self._write_one(client, changes[0], gone)]
            else:
                # a burst (a machine lost, many units submitted) is written by several
                # connections at once: the store commits concurrent writes together
                write = functools.partial(self._write_one, None, gone=gone)
                outcomes = list(self._writers.map(write, changes))
            for c, adopted in zip(changes, outcomes, strict=True):
                if adopted is not None:
                    sched.placed(c.unit, adopted.machine, adopted.reason)

    def _wait_to_campaign(self, leadership: Leadership, reachable: bool,
                          stop: threading.Event) -> None:  # fmt: skip
        """A lost election: wait for the leader's lease to go (one watch), or a third of
        the TTL when the store could not be reached."""
        if not reachable:
            stop.wait(self.ttl / 3)
            return
        self._wake.clear()
        if not stop.is_set():
            leadership.wait_vacant(self._wake)
            self._wake.wait()

    def _write_one(self, client: Client | None, c: Change, gone: set[str]) -> Adopted | None:
        """Write one change; on a conflict, return what is stored instead."""
        if client is None:
            client = self._thread_client()
        key = f"{SCHEDULE}/{c.unit}"
        try:
            _put(client, key, _stored(c.old, c.old_reason), _stored(c.new, c.reason))
            if c.new is not None:
                metrics.PLACEMENTS.inc()
                if c.old is not None and c.old in gone:
                    self._failed_over(c.old)
            if c.new is None and c.reason:
                log.info("engine: %.300s not placed: %s", c.unit, c.reason)
            else:
                log.info("engine: %.300s %s -> %s", c.unit, c.old or "-", c.new or "-")
        except CONFLICTS:
            return self._adopt(client, key)  # someone else wrote it: decide again
        except (CommandFailed, InvalidRequest) as exc:
            # this key cannot be written (a directory in its place, a key the store
            # refuses as too long); the store's own trouble (3xx) propagates: start again
            self.quiet.warning(key, f"engine: cannot write {key:.300}: {exc}")
            return None
        if c.old is not None and c.old in gone:
            # the old machine is gone: its agent will never clear its state record
            with contextlib.suppress(EtcdError):
                client.delete(state_key(c.old, c.unit))
        return None

    def _adopt(self, client: Client, key: str) -> Adopted | None:
        """What is stored at `key`, for the scheduler to adopt; None if nothing can be
        written there."""
        try:
            node = client.get(key).node
        except EtcdError:
            return Adopted(None)
        if node.dir:  # not a write to adopt: nothing can be written there
            self.quiet.warning(key, f"engine: cannot write {key:.300}: a directory")
            return None
        try:
            stored = decode(ScheduleRecord, node.value)
            return Adopted(stored.machine or None, stored.reason)
        except FleetRecordError:
            return Adopted(None)

    def _failed_over(self, machine: str) -> None:
        metrics.FAILOVERS.inc()
        since = self._down_since.get(machine)
        if since is not None:  # else it went before this engine was elected: time unknown
            metrics.FAILOVER_SECONDS.observe(time.monotonic() - since)

    def _delete_legacy(self, client: Client) -> None:
        while self._legacy:
            key = self._legacy.pop()
            try:
                client.delete(key)
                log.info("engine: deleted %s (earlier states layout)", key)
            except KeyNotFound:
                pass
            except EtcdError as exc:
                log.warning("engine: deleting %s: %s", key, exc)
            except StoreError as exc:  # unreachable store: try again after the next event
                self._legacy.add(key)
                log.warning("engine: deleting %s: %s", key, exc)
                return

    def _thread_client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._client()
            self._local.client = client
        return client

    def _client(self) -> Client:
        return Client(self.endpoint, timeout=max(1.0, self.ttl / 3))


@dataclass(frozen=True)
class Adopted:
    """The placement the engine takes from the store after a write lost its compare."""
    machine: str | None
    reason: str = ""


def _stored(machine: str | None, reason: str) -> str | None:
    """The text of `schedule/<unit>` for a placement or a reason; None: no key."""
    if machine is not None:
        return encode(ScheduleRecord(machine))
    return encode(ScheduleRecord("", reason)) if reason else None


def _count_machines(sched: Scheduler) -> None:
    drained = sum(1 for m in sched.machines.values() if m.drained)
    metrics.MACHINES.labels("up").set(len(sched.machines) - drained)
    metrics.MACHINES.labels("drained").set(drained)


def _campaign(leadership: Leadership) -> tuple[bool, bool]:
    """(elected, the store reachable) after one campaign."""
    try:
        return leadership.campaign(), True
    except StoreError as exc:
        metrics.store_error("election", exc)
        log.warning("engine election: %s", exc)
        return False, False


def _put(client: Client, key: str, old: str | None, new: str | None) -> None:
    """One schedule write, guarded by the value it replaces (none: create)."""
    if new is None:
        if old is not None:
            client.delete(key, prev_value=old)
    elif old is None:
        client.create(key, new)
    else:
        client.set(key, new, prev_value=old)


def _burst(events: queue.Queue[CopyChange], timeout: float) -> list[CopyChange]:
    """The next event (waiting up to `timeout`) and all queued behind it: one decision
    for a burst; empty if none came."""
    try:
        batch = [events.get(timeout=max(0.0, timeout))]
    except queue.Empty:
        return []
    while True:
        try:
            batch.append(events.get_nowait())
        except queue.Empty:
            return batch


def _leave(watched: WatchedKeys, events: queue.Queue[CopyChange] | None) -> None:
    if events is not None:
        watched.unsubscribe(events)
    watched.stop()


def _order(key: str) -> int:
    """Machines, then units, then placements, then states: each needs the former."""
    for i, base in enumerate((MACHINES, UNITS, SCHEDULE, STATES)):
        if key.startswith(base + "/"):
            return i
    return 9
