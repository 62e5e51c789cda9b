"""The two sides of every comparison, started fresh and side by side on 127.0.0.1.

"ours" is corral-store (embedded backend) or, to validate the harness itself, a second
etcd; "reference" is always real etcd 3.4 with the v2 API. Each pair gets its own
fresh data directories under the run's work directory; `pair()` stops both however
the phase ends, so no server outlives the benchmark.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procfs import peak_rss_bytes, rss_bytes
from corral.client import Client, StoreError
from corral.testing import EtcdServer, StoreServer, wait_until

Server = StoreServer | EtcdServer


class SetupError(RuntimeError):
    """A server could not be started or did not answer."""


@dataclass(frozen=True)
class Restart:
    stop_seconds: float
    ready_seconds: float


@dataclass
class Side:
    label: str
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def rss(self) -> int:
        return rss_bytes(self.server.pid)

    def peak_rss(self) -> int:
        return peak_rss_bytes(self.server.pid)

    def restart(self, key: str, timeout: float) -> Restart:
        """Stop (SIGTERM, as an operator would), start again, and time each: ready is
        from spawn until /health and a GET of `key` both answer."""
        stopping = time.perf_counter()
        self.server.stop()
        stop_s = time.perf_counter() - stopping
        started = time.perf_counter()
        self.server.start(timeout=timeout)
        client = Client(self.server.url, timeout=5.0)
        try:
            wait_until(lambda: _has(client, key), timeout, f"GET {key} on {self.label}", 0.005)
        finally:
            client.close()
        return Restart(stop_s, time.perf_counter() - started)

    def log_tail(self) -> str:
        return self.server.log_tail()


def _has(client: Client, key: str) -> bool:
    try:
        return client.get(key).node.value is not None
    except StoreError:
        return False


def store_available() -> bool:
    return importlib.util.find_spec("corral.store") is not None


def start_side(kind: str, label: str, data_dir: Path, timeout: float = 30.0) -> Side:
    if kind == "store":
        if not store_available():
            raise SetupError("corral-store is not installed (no corral.store module)")
        server: Server = StoreServer(data_dir)
    elif kind == "etcd":
        server = EtcdServer(data_dir, name=label)
    else:
        raise SetupError(f"unknown server kind {kind!r}")
    try:
        server.start(timeout=timeout)
    except (TimeoutError, RuntimeError) as exc:
        server.stop()
        raise SetupError(f"{label} did not start: {exc}") from exc
    return Side(label, server)


@contextmanager
def pair(work_dir: Path, ours_kind: str, name: str) -> Iterator[tuple[Side, Side]]:
    """(ours, reference), both fresh, stopped on exit."""
    base = work_dir / name
    if base.exists():
        raise SetupError(f"{base} exists: each pair needs fresh data (use a new --work-dir)")
    # both start at once: starting is most of a short (smoke) phase's time
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(start_side, ours_kind, "ours", base / "ours"),
            pool.submit(start_side, "etcd", "reference", base / "reference"),
        ]
    started = [f.result() for f in starting if f.exception() is None]
    try:
        for f in starting:
            f.result()  # the first failure to start, after both have settled
        yield started[0], started[1]
    finally:
        for side in started:
            side.server.stop()
