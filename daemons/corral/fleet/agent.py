"""The agent: one per machine. Heartbeats the machine record, converges the units the
engine scheduled here (and the global units this machine matches), reports their
state, and runs the engine election.

Threads, each with its own store client: heartbeat (refresh the record's TTL every
third of it; recreate it if it expired), the watched keys' watches, the engine (campaigns
for `engine/leader`; places units while elected), and the main loop, which applies
watched keys' events to the wanted set (incrementally: wanted.py) and every half second
compares the executor's units with it (`convergence.plan`) and publishes changed
states; that tick costs O(units on this machine), never O(units in the cluster).

The watched keys are only what this machine acts on (`agent_scopes`): every unit (a
global unit may match it) and placement, its own record and corral-updated's drain
request for it. Other machines' heartbeats, records, states and update keys never wake
it; an idle machine costs the store its heartbeats only.

Readiness (systemd): READY=1 once the machine record is registered; the main loop
sends WATCHDOG=1 at the unit's ping interval, so a main loop that hangs (a stuck
executor call, a file read that never returns) stops the pings and systemd restarts
the agent. Metrics (fleet/metrics.py) are counted here and in the engine, never in
the pure cores (convergence, scheduler).

On SIGTERM the agent exits and leaves its units running and its record to expire:
an agent restarted within the TTL adopts its units and nothing moves. Operator
changes to the record (drain, runtime metadata) are kept across heartbeats; on agent
start `--metadata` defines the metadata and an existing record's drain is kept.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path

from corral.client import Client, EtcdError, StoreError
from corral.etcd_errors import KeyNotFound
from corral.fleet import metrics
from corral.fleet.convergence import Action, Wanted, plan
from corral.fleet.engine import Engine
from corral.fleet.executor import Executor, UnitStatus
from corral.fleet.quietlog import QuietLog
from corral.fleet.records import (
    MACHINES,
    SCHEDULE,
    UNITS,
    FleetRecordError,
    MachineRecord,
    StateRecord,
    decode,
    encode,
    state_key,
)
from corral.fleet.spec import MAX_UNIT_BYTES
from corral.fleet.wanted import WantedSet
from corral.fleet.watched_keys import WatchedKeys, apply
from corral.systemd import Notifier
from corral.updated.records import DRAIN as UPDATE_DRAIN

log = logging.getLogger(__name__)
TICK = 0.5  # how often local unit states are compared and published


def agent_scopes(machine_id: str) -> tuple[str, ...]:
    """The keys an agent follows: units, placements, its record, its update drain."""
    return (UNITS, SCHEDULE, f"{MACHINES}/{machine_id}", f"{UPDATE_DRAIN}/{machine_id}")


class Agent:
    """One machine's agent: its record, its units' convergence and its engine thread."""

    def __init__(
        self,
        endpoint: str,
        record: MachineRecord,
        executor: Executor,
        state_dir: Path,
        ttl: int,
        engine: bool = True,
        max_failures: int = 3,
        max_unit_bytes: int = MAX_UNIT_BYTES,
        notifier: Notifier | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.notifier = notifier if notifier is not None else Notifier({})
        self.record = record
        self.executor = executor
        self.launched_dir = state_dir / "launched"
        self.launched_dir.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self.engine = (
            Engine(endpoint, record.id, ttl, max_failures, max_unit_bytes) if engine else None
        )
        self.stop = threading.Event()
        self.key = f"{MACHINES}/{record.id}"
        self.wanted = WantedSet(record, max_unit_bytes)  # follows the watched keys' events
        self.quiet = QuietLog(log)  # a failing action is tried every tick, logged once
        self._published: dict[str, str] = {}
        self._unit_counts: set[tuple[str, str]] = set()  # label sets of metrics.UNITS

    # -- lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        client = Client(self.endpoint, timeout=max(1.0, self.ttl / 3))
        if not self._register(client):
            client.close()
            return  # stopped before the store answered
        self.notifier.ready(f"machine {self.record.id} registered")
        ping_every = self.notifier.ping_interval()
        next_ping = 0.0
        watched = WatchedKeys(self.endpoint, agent_scopes(self.record.id)).start()
        threads = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
        if self.engine is not None:
            threads.append(
                threading.Thread(
                    target=self.engine.run, args=(self.stop,), name="engine", daemon=True
                )
            )
        for t in threads:
            t.start()
        self._forget_lost()
        view: dict[str, str] = {}
        synced = False
        next_tick = 0.0
        while not self.stop.is_set():
            if ping_every is not None and time.monotonic() >= next_ping:
                self.notifier.watchdog()  # from this loop only: a hung loop stops the pings
                next_ping = time.monotonic() + ping_every
            try:
                event = watched.events.get(timeout=max(0.0, next_tick - time.monotonic()))
                while True:
                    apply(view, event)
                    synced = synced or event.kind == "reset"
                    self.wanted.apply(view, event)
                    event = watched.events.get_nowait()
            except queue.Empty:
                pass
            if not synced:
                continue
            try:
                self._follow_update_drain(client, view)
                self._converge(self.wanted.units)
                self._publish(client)
                self.quiet.resolved("store")
            except StoreError as exc:
                metrics.store_error("converge", exc)
                self.quiet.warning("store", f"agent: {exc}")  # every tick would repeat it
            next_tick = time.monotonic() + TICK
        watched.stop()
        if self.engine is not None:
            self.engine.halt()
        for t in threads:
            t.join(timeout=self.ttl)
        client.close()

    def _register(self, client: Client) -> bool:
        """Write the machine record; False when stopped first (SIGTERM while the store
        is unreachable must not wait out the deadline)."""
        deadline = time.monotonic() + 60
        while not self.stop.is_set():
            try:
                try:
                    old = decode(MachineRecord, client.get(self.key).node.value)
                    self.record.drained = bool(old.drained)
                    self.record.update_drain = bool(old.update_drain)
                except (EtcdError, FleetRecordError):
                    pass
                client.set(self.key, encode(self.record), ttl=self.ttl)
                log.info("agent: machine %s registered", self.record.id)
                return True
            except StoreError as exc:
                metrics.store_error("register", exc)
                if time.monotonic() > deadline:
                    raise
                log.warning("agent: store not reachable yet: %s", exc)
                self.stop.wait(1.0)
        return False

    def _heartbeat(self) -> None:
        client = Client(self.endpoint, timeout=max(1.0, self.ttl / 3))
        while not self.stop.wait(self.ttl / 3):
            try:
                client.refresh(self.key, self.ttl)
                self.quiet.resolved("heartbeat")
            except KeyNotFound as exc:
                metrics.store_error("heartbeat", exc)
                log.warning("heartbeat: record had expired, writing it again")
                with contextlib.suppress(StoreError):
                    client.create(self.key, encode(self.record), ttl=self.ttl)
            except StoreError as exc:  # e.g. a directory where the record belongs
                metrics.store_error("heartbeat", exc)
                self.quiet.warning("heartbeat", f"heartbeat: {exc}")
        client.close()

    def _follow_update_drain(self, client: Client, view: dict[str, str]) -> None:
        """Copy corral-updated's drain request for this machine into the record's
        `update_drain` (compare-and-swap, keeping the TTL); the record's event then
        reaches the wanted set and the engine."""
        wanted = f"{UPDATE_DRAIN}/{self.record.id}" in view
        try:  # the watched keys' copy first: the store is asked only when they differ
            if decode(MachineRecord, view.get(self.key)).update_drain == wanted:
                return
        except FleetRecordError:
            pass
        try:
            node = client.get(self.key).node
            record = decode(MachineRecord, node.value)
        except (EtcdError, FleetRecordError):
            return  # expired or odd: the heartbeat writes it again, then this runs again
        if record.update_drain == wanted:
            return
        record.update_drain = wanted
        with contextlib.suppress(EtcdError):  # changed meanwhile: the next tick retries
            client.set(self.key, encode(record), ttl=node.ttl or None,
                       prev_index=node.modified_index)  # fmt: skip
            log.info("agent: %s for corral-updated", "drained" if wanted else "undrained")

    # -- convergence ----------------------------------------------------------------

    def _launched(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in self.launched_dir.iterdir()}

    def _forget_lost(self) -> None:
        """At start: a unit whose supervisor vanished while it ran (the host went down)
        is started again, not reported as failed."""
        for name in self._launched():
            if self.executor.status(name).lost:
                (self.launched_dir / name).unlink()

    def _converge(self, wanted: dict[str, Wanted]) -> None:
        for action in plan(wanted, self.executor.loaded(), self._launched()):
            subject = f"{action.verb} {action.unit}"
            try:
                self._do(action)
                self.quiet.resolved(subject)
            except OSError as exc:
                self.quiet.warning(subject, f"agent: {action.verb} {action.unit:.300}: {exc}")

    def _do(self, a: Action) -> None:
        marker = self.launched_dir / a.unit
        done = True
        if a.verb == "stop":
            self.executor.stop(a.unit)
            marker.unlink(missing_ok=True)
        elif a.verb == "unload":
            done = self.executor.unload(a.unit)
        elif a.verb == "load":
            self.executor.load(a.unit, a.contents)
        elif a.verb == "start":
            done = self.executor.start(a.unit)
            if done:
                marker.write_text(a.token)
        elif a.verb == "restart":
            # stop now; a later pass starts it again once it has stopped
            self.executor.stop(a.unit)
            marker.unlink(missing_ok=True)
        if done:
            log.info("agent: %s %s", a.verb, a.unit)

    # -- state reports ----------------------------------------------------------------

    def _publish(self, client: Client) -> None:
        me = self.record.id
        loaded = self.executor.loaded()
        launched = self._launched()
        counts: dict[tuple[str, str], int] = {}
        for name, digest in loaded.items():
            st: UnitStatus = self.executor.status(name)
            wanted = self.wanted.units.get(name)
            labels = (wanted.desired if wanted else "inactive", st.active or "unknown")
            counts[labels] = counts.get(labels, 0) + 1
            record = StateRecord(
                machine=me,
                load=st.load,
                active=st.active,
                sub=st.sub,
                hash=digest,
                failures=st.failures,
                restart=launched.get(name, ""),
                main_pid=st.main_pid,
                reason=st.reason,
            )
            text = encode(record)
            if self._published.get(name) != text:
                client.set(state_key(me, name), text)
                self._published[name] = text
        for name in [n for n in self._published if n not in loaded]:
            with contextlib.suppress(EtcdError):
                client.delete(state_key(me, name))
            del self._published[name]
        self._count_units(counts)

    def _count_units(self, counts: dict[tuple[str, str], int]) -> None:
        for labels, n in counts.items():
            metrics.UNITS.labels(*labels).set(n)
        for labels in self._unit_counts - counts.keys():
            metrics.UNITS.remove(*labels)
        self._unit_counts = set(counts)
