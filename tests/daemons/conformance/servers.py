"""The servers under test: every implementation of the v2 keys API Corral ships.

The conformance suite runs each scenario on real etcd 3.4 (the reference) and on each
implementation listed here. A second backend is one more entry in IMPLEMENTATIONS:
a name and a function that starts it in a fresh directory and returns the running
process, whose `url` is where it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corral.store.etcdv3.testing import GatewayOverEtcd
from corral.testing import EtcdServer, ManagedProcess, StoreServer


@dataclass(frozen=True)
class Implementation:
    name: str
    start: Callable[[Path], ManagedProcess | GatewayOverEtcd]
    leases: bool = False  # TTLs are etcd v3 leases (see steps.in_lease_order)


def start_reference(workdir: Path) -> EtcdServer:
    return EtcdServer(workdir / "etcd").start()


def start_embedded(workdir: Path) -> StoreServer:
    return StoreServer(workdir / "store").start()


def start_etcd_gateway(workdir: Path) -> GatewayOverEtcd:
    return GatewayOverEtcd(workdir).start()


IMPLEMENTATIONS = [
    Implementation("corral-store-embedded", start_embedded),
    Implementation("corral-store-etcd", start_etcd_gateway, leases=True),
]


class Running:
    """One implementation shared by many scenarios. If a scenario kills it, the next
    scenario gets a fresh one (and the failure stays with the scenario that caused it)."""

    def __init__(self, implementation: Implementation, workdir: Path) -> None:
        self.implementation = implementation
        self.workdir = workdir
        self.starts = 0
        self.server: ManagedProcess | GatewayOverEtcd | None = None

    @property
    def url(self) -> str:
        if self.server is None or not self.server.alive():
            self.stop()
            self.starts += 1
            self.server = self.implementation.start(self.workdir / f"run{self.starts}")
        url = getattr(self.server, "url", None)
        assert isinstance(url, str), f"{self.implementation.name} has no url"
        return url

    def log_tail(self) -> str:
        return self.server.log_tail() if self.server is not None else ""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
