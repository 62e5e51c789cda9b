"""The agent: one per machine. Heartbeats the machine record, converges the units the
engine scheduled here (and the global units this machine matches), reports their
state, and runs the engine election.

Threads, each with its own store client: heartbeat (refresh the record's TTL every
third of it; recreate it if it expired), the mirror's watch, the engine (campaigns
for `engine/leader`; places units while elected), and the main loop, which applies
mirror events and every half second compares the executor's units with the wanted
set (`convergence.plan`) and publishes changed states.

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

from corral.client import KEY_NOT_FOUND, Client, EtcdError, StoreError
from corral.fleet import names
from corral.fleet.convergence import Action, Wanted, plan
from corral.fleet.engine import Engine
from corral.fleet.executor import Executor, UnitStatus
from corral.fleet.mirror import Event, Mirror, apply
from corral.fleet.records import (
    MACHINES,
    ROOT,
    SCHEDULE,
    STATES,
    UNITS,
    MachineRecord,
    RecordError,
    ScheduleRecord,
    StateRecord,
    UnitRecord,
    decode,
    encode,
    key_name,
)
from corral.fleet.spec import SubmitError, UnitSpec, unit_spec

log = logging.getLogger(__name__)
TICK = 0.5  # how often local unit states are compared and published


class Agent:
    def __init__(
        self,
        endpoint: str,
        record: MachineRecord,
        executor: Executor,
        state_dir: Path,
        ttl: int,
        engine: bool = True,
        max_failures: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.record = record
        self.executor = executor
        self.launched_dir = state_dir / "launched"
        self.launched_dir.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self.engine = Engine(endpoint, record.id, ttl, max_failures) if engine else None
        self.stop = threading.Event()
        self.key = f"{MACHINES}/{record.id}"
        self._specs: dict[str, UnitSpec] = {}
        self._published: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        client = Client(self.endpoint, timeout=max(1.0, self.ttl / 3))
        self._register(client)
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
        mirror = Mirror(self.endpoint).start()
        view: dict[str, str] = {}
        synced = False
        wanted: dict[str, Wanted] | None = None  # recomputed only after a change
        next_tick = 0.0
        while not self.stop.is_set():
            try:
                event = mirror.events.get(timeout=max(0.0, next_tick - time.monotonic()))
                while True:
                    apply(view, event)
                    synced = synced or event.kind == "reset"
                    if self._affects_wanted(event):
                        wanted = None
                    event = mirror.events.get_nowait()
            except queue.Empty:
                pass
            if not synced:
                continue
            if wanted is None:
                wanted = self._wanted(view)
            try:
                self._converge(wanted)
                self._publish(client)
            except StoreError as exc:
                log.warning("agent: %s", exc)
            next_tick = time.monotonic() + TICK
        mirror.stop()
        for t in threads:
            t.join(timeout=self.ttl)
        client.close()

    def _affects_wanted(self, event: Event) -> bool:
        # other machines' records and every state report change nothing here
        return (
            event.kind == "reset"
            or event.key == self.key
            or event.key.startswith((UNITS + "/", SCHEDULE + "/"))
            or event.key in (MACHINES + "/", ROOT + "/")
        )

    def _register(self, client: Client) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                try:
                    old = decode(MachineRecord, client.get(self.key).node.value)
                    self.record.drained = bool(old.drained)
                except (EtcdError, RecordError):
                    pass
                client.set(self.key, encode(self.record), ttl=self.ttl)
                log.info("agent: machine %s registered", self.record.id)
                return
            except StoreError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("agent: store not reachable yet: %s", exc)
                self.stop.wait(1.0)

    def _heartbeat(self) -> None:
        client = Client(self.endpoint, timeout=max(1.0, self.ttl / 3))
        while not self.stop.wait(self.ttl / 3):
            try:
                client.refresh(self.key, self.ttl)
            except EtcdError as exc:
                if exc.error_code != KEY_NOT_FOUND:
                    log.warning("heartbeat: %s", exc)
                    continue
                log.warning("heartbeat: record had expired, writing it again")
                with contextlib.suppress(StoreError):
                    client.create(self.key, encode(self.record), ttl=self.ttl)
            except StoreError as exc:
                log.warning("heartbeat: %s", exc)
        client.close()

    # -- convergence ----------------------------------------------------------------

    def _launched(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in self.launched_dir.iterdir()}

    def _forget_lost(self) -> None:
        """At start: a unit whose supervisor vanished while it ran (the host went down)
        is started again, not reported as failed."""
        for name in self._launched():
            if self.executor.status(name).lost:
                (self.launched_dir / name).unlink()

    def _wanted(self, view: dict[str, str]) -> dict[str, Wanted]:
        me = self.record.id
        mine = view.get(self.key)
        if mine is not None:
            with contextlib.suppress(RecordError):
                current = decode(MachineRecord, mine)
                self.record.metadata = dict(current.metadata)
                self.record.drained = bool(current.drained)
        if self.record.drained:
            return {}
        wanted: dict[str, Wanted] = {}
        for key, value in view.items():
            name = key_name(key, UNITS)
            if name is None or names.is_template(name):
                continue
            try:
                unit = decode(UnitRecord, value)
                spec = self._spec(name, unit.contents)
            except (RecordError, SubmitError) as exc:
                log.debug("agent: ignoring %s: %s", name, exc)
                continue
            if unit.desired not in ("loaded", "launched"):
                continue
            if spec.options.global_:
                if not spec.options.metadata.matches(self.record.metadata):
                    continue
            else:
                placed = view.get(f"{SCHEDULE}/{name}")
                try:
                    if placed is None or decode(ScheduleRecord, placed).machine != me:
                        continue
                except RecordError:
                    continue
            wanted[name] = Wanted(spec.hash, unit.contents, unit.desired, unit.restart.get(me, ""))
        return wanted

    def _spec(self, name: str, contents: str) -> UnitSpec:
        spec = self._specs.get(name)
        if spec is None or spec.contents != contents:
            spec = unit_spec(name, contents)
            self._specs[name] = spec
        return spec

    def _converge(self, wanted: dict[str, Wanted]) -> None:
        for action in plan(wanted, self.executor.loaded(), self._launched()):
            try:
                self._do(action)
            except OSError as exc:
                log.warning("agent: %s %s: %s", action.verb, action.unit, exc)

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
        for name, digest in loaded.items():
            st: UnitStatus = self.executor.status(name)
            record = StateRecord(
                machine=me,
                load=st.load,
                active=st.active,
                sub=st.sub,
                hash=digest,
                failures=st.failures,
                restart=launched.get(name, ""),
                main_pid=st.main_pid,
            )
            text = encode(record)
            if self._published.get(name) != text:
                client.set(f"{STATES}/{name}/{me}", text)
                self._published[name] = text
        for name in [n for n in self._published if n not in loaded]:
            with contextlib.suppress(EtcdError):
                client.delete(f"{STATES}/{name}/{me}")
            del self._published[name]
