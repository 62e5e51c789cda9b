"""Test harness for the etcd backend: corral-store gateways over real etcd members.

`GatewayOverEtcd` is one gateway in front of etcd servers it owns (started and
stopped together), shaped like `corral.testing.ManagedProcess` (`url`, `alive`,
`stop`, `log_tail`) so the conformance suite can run it like any other server.
"""

from __future__ import annotations

from pathlib import Path

from corral.testing import EtcdServer, StoreServer

# What the etcd role configures for the etcd backend: v2 accepts 200-deep keys (a write
# is then ~400 operations in one transaction) and values of several MiB.
ETCD_OPTIONS = ("--max-txn-ops", "1024", "--max-request-bytes", str(8 << 20))


def gateway(
    data_dir: Path, members: list[EtcdServer], listen: str = "http://127.0.0.1:0",
    extra_args: tuple[str, ...] = (),
) -> StoreServer:  # fmt: skip
    """A corral-store process (not yet started) over `members`."""
    endpoints = ",".join(m.url for m in members)
    args = ["--backend", "etcd", "--etcd-endpoints", endpoints, *extra_args]
    return StoreServer(data_dir, args, listen=listen)


class GatewayOverEtcd:
    """A real etcd and a corral-store gateway over it, for tests and benchmarks."""

    def __init__(self, workdir: Path) -> None:
        self.etcd = EtcdServer(workdir / "etcd", extra_args=ETCD_OPTIONS)
        self.store = gateway(workdir / "gateway", [self.etcd])

    def start(self) -> GatewayOverEtcd:
        self.etcd.start()
        try:
            self.store.start()
        except BaseException:
            self.etcd.stop()
            raise
        return self

    @property
    def url(self) -> str:
        return self.store.url

    def alive(self) -> bool:
        return self.store.alive() and self.etcd.alive()

    def log_tail(self, lines: int = 40) -> str:
        return f"{self.store.log_tail(lines)}\n--- etcd log ---\n{self.etcd.log_tail(lines // 2)}"

    def stop(self, timeout: float = 10.0) -> int | None:
        code = self.store.stop(timeout)
        self.etcd.stop(timeout)
        return code
