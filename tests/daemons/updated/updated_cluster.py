"""A cluster of simulated hosts (`updated_machine.py`) on one store and one mirror,
with the reads the cluster tests assert on: update statuses, histories, the reboot
lock and where the scheduler's units run."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from updated_harness import PRODUCT, Signers

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.testing import ManagedProcess, wait_until
from corral.updated import records as r
from corral.updated.reboot_lock import RebootLock
from corral.updated.semaphore import Semaphore

HERE = Path(__file__).parent
HEALTH = '! grep -q BROKEN "$CORRAL_SLOT_PATH"'


class SimHost(ManagedProcess):
    def __init__(self, base: Path, machine_id: str, endpoint: str, mirror_url: str,
                 signers: Signers, extra: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.machine_id = machine_id
        self.dir = base / machine_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slot_dir = self.dir / "slots"
        fleet_state = self.dir / "fleet"
        spec = {
            "slot_dir": str(self.slot_dir),
            "fleet_state": str(fleet_state),
            "log": str(self.dir / "host.log"),
            "fleet": [sys.executable, "-m", "corral.fleet", "--endpoint", endpoint,
                      "--machine-id", machine_id, "--executor", "process",
                      "--agent-ttl", "2s", "--state-dir", str(fleet_state)],
            "updated": [sys.executable, "-m", "corral.updated.cli", "--endpoint", endpoint,
                        "--machine-id", machine_id, "--state-dir", str(self.dir / "updated"),
                        "--mirror", mirror_url, "--product", PRODUCT, "--channel", "stable",
                        "--pin", signers.alice, "--pin", signers.bob, "--threshold", "2",
                        "--interval", "3s", "--jitter", "0.5",
                        "--slots", "directory", "--slot-dir", str(self.slot_dir),
                        "--initial-version", "1.0.0",
                        "--reboot-command", "kill -HUP $CORRAL_TEST_MACHINE_PID",
                        "--health-command", HEALTH, "--health-timeout", "2s",
                        "--drain-timeout", "30s", "--tick", "0.2s", *extra],
        }  # fmt: skip
        spec_file = self.dir / "spec.json"
        spec_file.write_text(json.dumps(spec))
        super().__init__([sys.executable, str(HERE / "updated_machine.py"), str(spec_file)],
                         self.dir / "sim.log")  # fmt: skip

    def host_log(self) -> str:
        path = self.dir / "host.log"
        return path.read_text(errors="replace") if path.exists() else ""


class UpdateCluster:
    def __init__(self, base: Path, endpoint: str, mirror_url: str, signers: Signers) -> None:
        self.base = base
        self.endpoint = endpoint
        self.mirror_url = mirror_url
        self.signers = signers
        self.hosts: dict[str, SimHost] = {}
        self.client = Client(endpoint, timeout=5)

    def add(self, machine_id: str, *extra: str) -> SimHost:
        host = SimHost(self.base, machine_id, self.endpoint, self.mirror_url, self.signers,
                       extra)  # fmt: skip
        host.spawn()
        self.hosts[machine_id] = host
        return host

    def statuses(self) -> dict[str, r.MachineStatus]:
        try:
            node = self.client.get(r.MACHINES).node
        except KeyNotFound:
            return {}
        return {n.name: r.decode(r.MachineStatus, n.value) for n in node.nodes}

    def history(self, machine_id: str) -> list[r.HistoryEntry]:
        try:
            node = self.client.get(f"{r.HISTORY}/{machine_id}", sorted=True).node
        except KeyNotFound:
            return []
        return [r.decode(r.HistoryEntry, n.value) for n in node.nodes]

    def lock(self) -> Semaphore:
        return RebootLock(self.client).read()

    def scheduler(self) -> Cluster:
        return Cluster.read(self.client)

    def running(self, unit: str) -> list[str]:
        states = self.scheduler().states.get(unit, {})
        return [mid for mid, s in states.items() if s.active == "active"]

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_until(check, timeout, what, interval=0.2)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from exc

    def logs(self) -> str:
        out = [f"statuses: {self.statuses()}", f"lock: {self.lock()}"]
        for mid, host in self.hosts.items():
            out.append(f"--- {mid}\n" + "\n".join(host.host_log().splitlines()[-30:]))
        return "\n".join(out)

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop(timeout=30)
        self.client.close()


def reboot_intervals(cluster: UpdateCluster, machine_id: str) -> list[tuple[float, float]]:
    """(reboot asked, good on the new slot or back on the old one) of each reboot."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    for e in cluster.history(machine_id):
        t = datetime.fromisoformat(e.time.replace("Z", "+00:00")).timestamp()
        if e.event == "reboot" and start is None:
            start = t
        elif e.event in ("good", "back") and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, time.time()))
    return out
