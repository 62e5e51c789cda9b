"""corral-fleet phases: failover after a machine dies, and placement at scale.

Both run against corral-store alone (etcd has no scheduler to compare with); the
reference figures are fleet's, quoted in the row notes, not measured.

- failover: real `corral-fleet` agents (process executor) at agent TTL 5 s. A unit runs
  on a worker; the worker "dies" (SIGKILL to its agent, its unit supervisors and their
  process groups, as a host failure looks); we time until the store shows the unit
  active on another machine, then bring the dead worker back for the next round. The
  engine runs on its own machine, which the unit's metadata excludes, so each round
  measures a worker's death, as fleet's 30-35 s reference does.
- scale: one real `corral-fleet` (the engine, on a drained machine so it runs no unit)
  and simulated machines (bench/phases/fleet_sim.py: per machine, the requests of a
  real agent and a real corral-updated: the watches of what concerns the machine,
  heartbeats, the wait for the engine's lease, state reports; no processes started).
  First the fleet idle, registered and no unit yet, for three TTLs: requests per
  machine per second, whose target is the machines' heartbeats alone. Then units are
  submitted as fast as 8 writers can; we time until every unit is placed and reported
  active, with the engine's CPU and the store's CPU per unit; then the fleet at rest
  (units running, nothing changing) for three TTLs: the store's CPU and requests per
  machine, judged the same way. Run on both backends:
  corral-store embedded, and one corral-store gateway over 3 etcd members (their CPU
  counted). Each machine holds `fleet_sim.ROLES` connections, beyond the store's
  default `--max-connections` at 1,000 machines: the stores here are given room.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import procfs
from bench.context import Bench
from bench.driver import ROOT
from bench.fdlimit import FDS_PER_MACHINE, raise_fd_limit
from bench.fleet_rates import heartbeat_rate
from bench.report import Row
from bench.servers import Side, start_side
from bench.stats import percentile
from bench.targets import beyond, target
from corral.client import Client, EtcdError, StoreError
from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.fleet.records import (
    LEADER,
    MACHINES,
    SCHEDULE,
    STATES,
    UNITS,
    MachineRecord,
    UnitRecord,
    encode,
)
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import ManagedProcess, StoreServer, etcd_cluster, wait_until

LOOP = "[Service]\nExecStart=/bin/sh -c 'while true; do echo Hello World; sleep 1; done'\n"
FAILOVER_UNIT = LOOP + "[X-Fleet]\nMachineMetadata=role=worker\n"
REQUEST_STATS = (
    "getsSuccess", "getsFail", "setsSuccess", "setsFail", "deleteSuccess", "deleteFail",
    "updateSuccess", "updateFail", "createSuccess", "createFail", "compareAndSwapSuccess",
    "compareAndSwapFail", "compareAndDeleteSuccess", "compareAndDeleteFail",
)  # fmt: skip


def _smoke(bench: Bench) -> bool:
    return bench.scale.fleet_units < 1000


@contextmanager
def _store(bench: Bench, name: str) -> Iterator[Side]:
    side = start_side("store", "ours", bench.work_dir / name / "store")
    try:
        yield side
    finally:
        side.server.stop()


class Agent(ManagedProcess):
    """A real corral-fleet process with the process executor."""

    def __init__(self, url: str, base: Path, mid: str, ttl: int, *extra: str) -> None:
        self.state_dir = base / mid
        argv = [
            sys.executable, "-m", "corral.fleet", "--endpoint", url, "--machine-id", mid,
            "--executor", "process", "--agent-ttl", f"{ttl}s",
            "--state-dir", str(self.state_dir), "--log-level", "info", *extra,
        ]  # fmt: skip
        super().__init__(argv, base / f"{mid}.log", dict(os.environ, PYTHONUNBUFFERED="1"))

    def unit_pids(self) -> list[int]:
        found = []
        for d in (self.state_dir / "units").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                found.append(int((d / "supervisor.pid").read_text()))
            with contextlib.suppress(OSError, ValueError):
                found.append(int(json.loads((d / "status.json").read_text())["main_pid"]))
        return [p for p in found if p > 0]

    def die(self) -> None:
        """The host dies: SIGKILL to the agent and every unit process group."""
        self.kill()
        for pid in self.unit_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- failover -------------------------------------------------------------------------


def _active_elsewhere(client: Client, unit: str, dead: str | None) -> str | None:
    c = Cluster.read(client)
    where = c.schedule.get(unit)
    if where is None or where == dead:
        return None
    state = c.states.get(unit, {}).get(where)
    return where if state is not None and state.active == "active" else None


def failover(bench: Bench) -> list[Row]:
    ttl = 2 if _smoke(bench) else 5
    rounds = bench.scale.failover_rounds
    base = bench.work_dir / "failover"
    unit = "m.service"
    with _store(bench, "failover") as store:
        client = Client(store.url, timeout=10)
        agents = {"engine": Agent(store.url, base, "engine", ttl, "--metadata", "role=engine")}
        # a worker to die and one to take the unit over; runs of several rounds keep a
        # spare third, as the reference setup does (a smoke run has one round)
        for i in range(2 if rounds == 1 else 3):
            mid = f"worker{i}"
            agents[mid] = Agent(
                store.url, base, mid, ttl, "--no-engine", "--metadata", "role=worker"
            )
        try:
            for a in agents.values():
                a.spawn()
            client.set(f"{UNITS}/{unit}", encode(UnitRecord(unit, FAILOVER_UNIT, "launched")))
            box: list[str | None] = [None]

            def active(dead: str | None) -> bool:
                box[0] = _active_elsewhere(client, unit, dead)
                return box[0] is not None

            wait_until(lambda: active(None), 60, f"{unit} active", 0.05)
            times: list[float] = []
            for round_ in range(rounds):
                victim = box[0]
                assert victim is not None
                killed = time.perf_counter()
                agents[victim].die()
                wait_until(lambda v=victim: active(v), ttl + 30, "failover", 0.02)
                times.append(time.perf_counter() - killed)
                if round_ == rounds - 1:
                    break
                # the dead machine comes back (its record expired), ready for later rounds
                agents[victim].spawn()
                wait_until(
                    lambda v=victim: v in Cluster.read(client).machines, 30, f"{victim} back", 0.05
                )
        except TimeoutError as exc:
            logs = "\n".join(f"--- {m}\n{a.log_tail(15)}" for m, a in agents.items())
            raise RuntimeError(f"{exc}\n{logs}") from exc
        finally:
            for a in agents.values():
                a.die()
            client.close()
    median = percentile(sorted(times), 50)
    return [
        Row(
            phase="fleet-failover",
            figure=f"failover, max of {rounds} at TTL {ttl}s",
            unit="s",
            ours=max(times),
            target=beyond("fleet-failover", ttl),
            note="fleet: TTL 30 s + 2 s engine interval, 30-35 s",
            detail={"median_s": median, "times_s": times, "ttl_s": ttl},
        ),
        Row(
            phase="fleet-failover",
            figure=f"failover, median of {rounds} at TTL {ttl}s",
            unit="s",
            ours=median,
            note="from SIGKILL of the machine to the unit active elsewhere",
        ),
    ]


# -- scale ----------------------------------------------------------------------------

SCALE_TTL = 10  # corral-fleet's --agent-ttl default
SIMS = 2  # simulator processes (one per core here); each carries its share of machines
SPARE_CONNECTIONS = 1024  # the engine agent's, the phase's own clients, reconnects
IDLE_SETTLE = 2.0  # seconds after the last machine registered: its first reads are done


def _count(client: Client, directory: str, nested: bool = False) -> int:
    try:
        node = client.get(directory, recursive=nested).node
    except KeyNotFound:
        return 0
    if not nested:
        return len(node.nodes or [])
    return sum(1 for n in node.walk() if not n.dir)


def _leader(client: Client) -> str | None:
    try:
        return client.get(LEADER).node.value
    except EtcdError:
        return None


def _last_placement(client: Client) -> int:
    """The index of the last write under `schedule/` (0: none)."""
    try:
        node = client.get(SCHEDULE, recursive=True).node
    except KeyNotFound:
        return 0
    return max((n.modified_index for n in node.walk()), default=0)


def _submit(url: str, names: list[str], deadline: float) -> int:
    """Submit `names` until `deadline`; how many were."""
    client = Client(url, timeout=30)
    done = 0
    for name in names:
        if time.perf_counter() >= deadline:
            break
        client.set(f"{UNITS}/{name}", encode(UnitRecord(name, LOOP, "launched")))
        done += 1
    client.close()
    return done


@dataclass
class Backend:
    """A store to schedule through, and the processes whose CPU is the store's."""

    kind: str
    url: str
    pids: list[int]

    def cpu_seconds(self) -> float:
        return sum(procfs.cpu_seconds(p) for p in self.pids)


@contextmanager
def _backend(bench: Bench, kind: str, machines: int) -> Iterator[Backend]:
    """corral-store embedded, or one corral-store gateway over 3 etcd members; either
    takes every machine's connections."""
    room = ("--max-connections", str(machines * FDS_PER_MACHINE + SPARE_CONNECTIONS))
    base = bench.work_dir / f"scale-{kind}"
    if kind == "embedded":
        server = StoreServer(base / "store", room).start(timeout=30)
        try:
            yield Backend(kind, server.url, [server.pid])
        finally:
            server.stop()
        return
    members = etcd_cluster(base, 3, extra_args=ETCD_OPTIONS)
    store = None
    try:
        store = gateway(base / "gateway", members, extra_args=room).start(timeout=30)
        yield Backend(kind, store.url, [store.pid, *(m.pid for m in members)])
    finally:
        if store is not None:
            store.stop()
        for m in members:
            m.stop()


class Sims:
    """The simulator processes (bench/phases/fleet_sim.py), machines split between them."""

    def __init__(self, url: str, machines: int, ttl: int) -> None:
        procs = SIMS if machines >= 100 else 1
        per = -(-machines // procs)
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.phases.fleet_sim",
                    url,
                    str(first),
                    str(min(per, machines - first)),
                    str(ttl),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for first in range(0, machines, per)
        ]

    def wait_ready(self) -> None:
        for p in self.procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a simulator process failed to start")

    def counts(self) -> Counter[str]:
        """Requests of every machine so far, by kind."""
        return self._ask()[0]

    def slowest_watch(self) -> int:
        """The store index every machine's placements watch has followed to."""
        return self._ask()[1]

    def _ask(self) -> tuple[Counter[str], int]:
        total: Counter[str] = Counter()
        slowest = []
        for p in self.procs:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("count\n")
            p.stdin.flush()
        for p in self.procs:
            assert p.stdout is not None
            line = json.loads(p.stdout.readline())
            total.update(line["counts"])
            slowest.append(line["slowest_watch_index"])
        return total, min(slowest)

    def stop(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.procs:
            try:
                out, _ = p.communicate(input="", timeout=30)
                lines = out.strip().splitlines()
                total.update(json.loads(lines[-1])["counts"] if lines else {})
            except (subprocess.TimeoutExpired, ValueError):
                p.kill()
                p.wait()
        return total


def _requests(counts: Counter[str]) -> int:
    return sum(v for k, v in counts.items() if k not in ("errors", "failed_roles", "expired",
                                                         "watch_401"))  # fmt: skip


def _reached(count: Callable[[], int], want: int, deadline: float) -> int:
    """Poll `count` until it reaches `want` or `deadline` passes; the last count."""
    n = 0
    while True:
        with contextlib.suppress(StoreError):  # a store too busy to answer: ask again
            n = count()
        if n >= want or time.perf_counter() >= deadline:
            return n
        time.sleep(0.5)


def scale(bench: Bench) -> list[Row]:
    return _scale(bench, "embedded") + _scale(bench, "etcd")


def _scale(bench: Bench, kind: str) -> list[Row]:
    machines, units = bench.scale.fleet_machines, bench.scale.fleet_units
    steady = 2.0 if _smoke(bench) else 3 * SCALE_TTL  # every loop runs several periods
    ttl = SCALE_TTL
    # the store answers every machine's connections (it inherits this limit)
    raise_fd_limit(machines)
    with _backend(bench, kind, machines) as store:
        client = Client(store.url, timeout=60)
        # the engine's machine is drained beforehand (the agent keeps a stored drain),
        # so every unit goes to the simulated machines
        client.set(f"{MACHINES}/engine", encode(MachineRecord("engine", drained=True)))
        engine = Agent(store.url, bench.work_dir / f"scale-{kind}" / "agents", "engine", ttl)
        sims = None
        try:
            engine.spawn()
            wait_until(lambda: _leader(client) == "engine", 60, "engine elected", 0.2)
            sims = Sims(store.url, machines, ttl)
            sims.wait_ready()
            # a gateway busy with 1,000 registrations may refuse a read as stale (300)
            registered = _reached(lambda: _count(client, MACHINES), machines + 1,
                                  time.perf_counter() + 60)  # fmt: skip
            if registered < machines + 1:
                raise RuntimeError(f"{registered - 1} of {machines} machines registered")
            # the fleet idle before any unit: registered, every watch waiting
            time.sleep(IDLE_SETTLE)
            i0, istore0, idle0 = sims.counts(), store.cpu_seconds(), time.perf_counter()
            time.sleep(steady)
            i1, istore1 = sims.counts(), store.cpu_seconds()
            idle_s = time.perf_counter() - idle0
            c0, cpu0, store0, t0 = (
                sims.counts(),
                engine.cpu_seconds(),
                store.cpu_seconds(),
                time.perf_counter(),
            )
            names = [f"u{i:05d}.service" for i in range(units)]
            # a slow run is reported (no number, and how far it got), not failed; past
            # four times the target (at least 2 min) it is missed whatever it does next
            deadline = t0 + max(120.0, 4 * target("fleet-scale").bound)
            with ThreadPoolExecutor(8) as pool:
                parts = [names[i::8] for i in range(8)]
                sent = sum(pool.map(lambda part: _submit(store.url, part, deadline), parts))
            submitted = time.perf_counter() - t0
            placed_n = _reached(lambda: _count(client, SCHEDULE), units, deadline)
            placed = time.perf_counter() - t0 if placed_n >= units else None
            cpu_placed = engine.cpu_seconds() - cpu0 if placed is not None else None
            active_n = _reached(lambda: _count(client, STATES, True), units, deadline)
            active = time.perf_counter() - t0 if active_n >= units else None
            # every placements watch has caught up with what placing the units wrote,
            # so the fleet at rest is measured, not the tail of the placement
            index = _last_placement(client)
            caught_up = _reached(sims.slowest_watch, index, time.perf_counter() + 120) >= index
            c1, store1 = sims.counts(), store.cpu_seconds()
            settled = time.perf_counter()
            time.sleep(steady)  # the fleet idle: nothing changes, machines heartbeat
            c2, store2, t2 = sims.counts(), store.cpu_seconds(), time.perf_counter()
            steady_s = t2 - settled
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n--- engine\n{engine.log_tail(20)}") from exc
        finally:
            final = sims.stop() if sims is not None else Counter()
            engine.stop()
            client.close()
    size = f"{machines} machines, {units} units, {kind}"
    at_rest = c2 - c1
    idle = i1 - i0
    errors = final["errors"] + final["failed_roles"]
    shared = {"phase": "fleet-scale", "errors": errors}
    return [
        Row(
            figure=f"all placed ({size})",
            unit="s",
            ours=placed,
            target=target("fleet-scale"),
            note="fleet's README: under 100 machines / 1,000 units",
            detail={
                "submitted_s": submitted,
                "submitted": sent,
                "placed_after_last_submit_s": None if placed is None else placed - submitted,
                "placed_at_the_end": placed_n,
                "active_at_the_end": active_n,
                "sim_counts": dict(final),
                "expired_records": final["expired"],
                "watch_fell_behind": final["watch_401"],
            },
            **shared,
        ),
        Row(figure=f"all reported active ({size})", unit="s", ours=active, **shared),
        Row(
            figure=f"engine agent CPU until all placed ({kind})",
            unit="cpu-s",
            ours=cpu_placed,
            detail={"per_unit_ms": None if cpu_placed is None else 1000 * cpu_placed / units},
            **shared,
        ),
        Row(
            figure=f"store CPU per unit placed and active ({kind})",
            unit="cpu-ms",
            ours=1000 * (store1 - store0) / units,
            note="store process(es) from /proc, etcd members included; if not all "
            "active, the CPU until the deadline",
            detail={"store_cpu_s": store1 - store0, "requests": _requests(c1 - c0)},
            **shared,
        ),
        Row(
            figure=f"store requests per machine, {machines} idle machines ({kind})",
            unit="req/s",
            ours=_requests(idle) / idle_s / machines,
            target=beyond("fleet-idle", heartbeat_rate(ttl)),
            note=f"agents + update engines, no unit yet; heartbeats alone "
            f"{heartbeat_rate(ttl):.2f}/s",
            detail={
                "by_kind_per_s": {k: v / idle_s for k, v in idle.items()},
                "store_cpu_ms_per_machine_s": 1000 * (istore1 - istore0) / idle_s / machines,
                "seconds": idle_s,
            },
            **shared,
        ),
        Row(
            figure=f"store CPU per machine at rest ({kind})",
            unit="cpu-ms/s",
            ours=1000 * (store2 - store1) / steady / machines,
            note="units placed and running, nothing changing; store cores busy in detail",
            detail={
                "store_cores_busy": (store2 - store1) / steady,
                "seconds": steady_s,
                "settled": active is not None and caught_up,
            },
            **shared,
        ),
        Row(
            figure=f"store requests per machine at rest ({kind})",
            unit="req/s",
            ours=_requests(at_rest) / steady / machines,
            target=beyond("fleet-idle", heartbeat_rate(ttl)),
            note="units placed and running, nothing changing",
            detail={"by_kind_per_s": {k: v / steady for k, v in at_rest.items()}},
            **shared,
        ),
    ]
