"""Test harness: corral-fleet agents as real processes (process executor) on one store.

Each agent has its own state dir and metadata. `FleetAgent.die()` is what a host
failure looks like: SIGKILL to the agent, its unit supervisors and their process
groups. Teardown stops every supervisor and kills leftovers, so no process outlives
its test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from corral.client import Client
from corral.fleet.cluster import Cluster
from corral.fleet.process_executor import ProcessExecutor
from corral.testing import ManagedProcess, wait_until


class FleetAgent(ManagedProcess):
    def __init__(
        self, endpoint: str, base: Path, machine_id: str, metadata: str = "", ttl: int = 2,
        engine: bool = True, extra: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.machine_id = machine_id
        self.state_dir = base / machine_id
        argv = [
            sys.executable, "-m", "corral.fleet",
            "--endpoint", endpoint,
            "--machine-id", machine_id,
            "--metadata", metadata,
            "--executor", "process",
            "--agent-ttl", f"{ttl}s",
            "--state-dir", str(self.state_dir),
            "--engine" if engine else "--no-engine",
            *extra,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        super().__init__(argv, base / f"{machine_id}.agent.log", env)

    def unit_dirs(self) -> list[Path]:
        root = self.state_dir / "units"
        return sorted(root.iterdir()) if root.exists() else []

    def unit_pids(self, name: str) -> tuple[int, int]:
        """(supervisor pid, main pid) of a unit running here; 0 when absent."""
        d = self.state_dir / "units" / name
        try:
            sup = int((d / "supervisor.pid").read_text())
            main = int(json.loads((d / "status.json").read_text()).get("main_pid", 0))
        except (OSError, ValueError):
            return 0, 0
        return sup, main

    def die(self) -> None:
        """The host dies: the agent and every unit process get SIGKILL."""
        self.kill()
        for d in self.unit_dirs():
            sup, main = self.unit_pids(d.name)
            for pid in (sup, main):
                if pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        """Stop the agent, then its units (supervisors run ExecStop), then kill leftovers."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        if self.alive():
            # slow to stop: stack dumps of it and its supervisors go to their logs
            self.proc.send_signal(signal.SIGUSR1)
            for d in self.unit_dirs():
                if _alive(sup := self.unit_pids(d.name)[0]):
                    os.kill(sup, signal.SIGUSR1)
        self.stop(timeout=5)
        for d in self.unit_dirs():
            sup, _ = self.unit_pids(d.name)
            if sup:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(sup, signal.SIGTERM)
        deadline = time.monotonic() + 3  # then SIGKILL: a test may leave a stubborn unit
        while time.monotonic() < deadline and any(
            _alive(self.unit_pids(d.name)[0]) for d in self.unit_dirs()
        ):
            time.sleep(0.05)
        self.die()


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Fleet:
    """Several agents on one store, plus corralctl and store reads for assertions."""

    def __init__(self, endpoint: str, base: Path) -> None:
        self.endpoint = endpoint
        self.base = base
        self.agents: dict[str, FleetAgent] = {}
        self.client = Client(endpoint, timeout=5)

    def add(self, machine_id: str, metadata: str = "", **kw: object) -> FleetAgent:
        agent = FleetAgent(self.endpoint, self.base, machine_id, metadata, **kw)  # type: ignore[arg-type]
        agent.spawn()
        self.agents[machine_id] = agent
        return agent

    def wait_machines(self, *ids: str, timeout: float = 20) -> None:
        self.wait(lambda c: set(ids) <= set(c.machines), timeout, f"machines {ids}")

    def cluster(self) -> Cluster:
        return Cluster.read(self.client)

    def wait(self, check: Callable[[Cluster], bool], timeout: float, what: str) -> Cluster:
        box: list[Cluster] = []

        def ok() -> bool:
            box[:] = [self.cluster()]
            return check(box[0])

        try:
            wait_until(ok, timeout, what, interval=0.1)
        except TimeoutError as exc:
            last = box[0] if box else None
            raise AssertionError(f"{exc}\n{self.logs()}\nlast view: {last}") from exc
        return box[0]

    def wait_active(self, unit: str, timeout: float = 20) -> str:
        """Wait until `unit` is active on its scheduled machine; returns that machine."""

        def ok(c: Cluster) -> bool:
            target = c.schedule.get(unit)
            s = c.states.get(unit, {}).get(target or "")
            return s is not None and s.active == "active"

        return self.wait(ok, timeout, f"{unit} active").schedule[unit]

    def ctl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "corral.ctl.main", "--endpoint", self.endpoint, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"corralctl {' '.join(args)} -> {done.returncode}\n"
                f"{done.stdout}\n{done.stderr}\n{self.logs()}"
            )
        return done

    def unit_file(self, name: str, text: str) -> str:
        path = self.base / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def logs(self) -> str:
        out = []
        for a in self.agents.values():
            out.append(f"--- {a.machine_id}\n{a.log_tail(25)}")
            for d in a.unit_dirs():
                for name in ("status.json", "supervisor.log"):
                    with contextlib.suppress(OSError):
                        out.append(f"  {d.name}/{name}: {(d / name).read_text()[-500:]}")
        return "\n".join(out)

    def close(self) -> None:
        for agent in self.agents.values():
            agent.cleanup()
        self.client.close()


def running_copies(fleet: Fleet, unit: str) -> list[str]:
    """Machines where a process of `unit` runs right now (checked on the host)."""
    out = []
    for mid, agent in fleet.agents.items():
        main = agent.unit_pids(unit)[1]
        if _alive(main):
            out.append(mid)
    return out


LOOP = "[Service]\nExecStart=/bin/sh -c 'while true; do echo Hello World; sleep 0.2; done'\n"


def unload_all(ex: ProcessExecutor) -> None:
    """Stop and forget every unit of a process executor (a test's clean-up)."""
    for name in list(ex.loaded()):
        wait_until(lambda name=name: ex.unload(name), 10, f"{name} unloaded")


def wait_state(ex: ProcessExecutor, name: str, active: str, timeout: float = 10) -> None:
    wait_until(lambda: ex.status(name).active == active, timeout, f"{name} {active}")
