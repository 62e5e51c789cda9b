"""What every phase gets: the sizes to use, where to put data, and how to drive load.

A phase is a function `(Bench) -> list[Row]`. It starts the servers it needs through
`bench.pair(name)` (fresh data, both stopped when the phase ends) and drives them
through `bench.load(side, **job)`, which runs the load generator in its own process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import driver, servers
from bench.report import Row
from bench.servers import Side


@dataclass(frozen=True)
class Scale:
    """Sizes of one run: FULL for `make bench`, SMOKE for the test that keeps it working."""

    seconds: float
    warmup: float
    watch_rounds: int
    memory_keys: int
    restart_keys: int
    concurrency: int = 32
    keys: int = 1000
    watchers: int = 100
    value_size: int = 256
    load_connections: int = 128
    fleet_machines: int = 1000
    fleet_units: int = 10_000
    failover_rounds: int = 20


FULL = Scale(seconds=8.0, warmup=1.0, watch_rounds=200, memory_keys=100_000, restart_keys=1_000_000)
# The smoke run only proves that every phase still runs end to end (the test suite
# runs it on a loaded 2-core machine): sizes just above trivial, so its time is mostly
# starting servers and load generators.
SMOKE = Scale(
    seconds=0.6,
    warmup=0.05,
    watch_rounds=4,
    memory_keys=1_000,
    restart_keys=1_000,
    keys=200,
    watchers=10,
    load_connections=16,
    fleet_machines=10,
    fleet_units=40,
    failover_rounds=1,
)


@dataclass
class Bench:
    scale: Scale
    work_dir: Path
    ours_kind: str

    def pair(self, name: str) -> AbstractContextManager[tuple[Side, Side]]:
        return servers.pair(self.work_dir, self.ours_kind, name)

    def job(self, side: Side, **fields: Any) -> dict[str, Any]:
        return {"url": side.url, "value_size": self.scale.value_size, **fields}

    def load(self, side: Side, **fields: Any) -> dict[str, Any]:
        seconds = fields.get("seconds") or 0.0
        budget = seconds + fields.get("warmup", 0.0) + fields.get("timeout", 30.0) + 30.0
        return driver.run(self.job(side, timeout=30.0, **fields), budget)

    def fill(self, sides: list[Side], count: int, prefix: str) -> list[dict[str, Any]]:
        """Write keys prefix0..prefix{count-1} on every side at once, at high concurrency."""
        timeout = max(120.0, count / 500)
        jobs = [
            self.job(
                s,
                count=count,
                sequential=True,
                key_prefix=prefix,
                connections=self.scale.load_connections,
                timeout=timeout,
                retries=5,  # an overloaded etcd answers 500 "request timed out" now and then
            )
            for s in sides
        ]
        results = driver.run_together(jobs, timeout + 30.0)
        for side, result in zip(sides, results, strict=True):
            if result["errors"]:
                raise driver.LoadgenError(
                    f"loading {count} keys into {side.label}: {result['errors']} errors, "
                    f"e.g. {result['error_samples'][:2]}"
                )
        return results


Phase = Callable[[Bench], list[Row]]
