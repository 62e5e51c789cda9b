"""What holding data costs: resident memory with 100k keys, restart time with 1M keys.

Both sides are loaded at once (at high concurrency, nothing measured while loading),
then measured one after the other. RSS is read from /proc for the whole process tree
of each server, etcd included as it is (Go heap and all), right after loading.
"""

from __future__ import annotations

import time

from bench.context import Bench
from bench.report import Row
from bench.targets import target

MIB = 1024 * 1024


def memory(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("memory") as (ours, ref):
        empty = {"ours": ours.rss() / MIB, "reference": ref.rss() / MIB}
        started = time.perf_counter()
        loads = bench.fill([ours, ref], s.memory_keys, "/bench/m")
        load_s = time.perf_counter() - started
        rss = {"ours": ours.rss() / MIB, "reference": ref.rss() / MIB}
        peak = {"ours": ours.peak_rss() / MIB, "reference": ref.peak_rss() / MIB}
    return [
        Row(
            phase="memory",
            figure=f"resident memory holding {s.memory_keys:,} keys of {s.value_size} B",
            unit="MiB",
            ours=rss["ours"],
            reference=rss["reference"],
            target=target("memory"),
            detail={
                "empty_mib": empty,
                "peak_mib": peak,
                "load_seconds": load_s,
                "load_ops_per_s": {
                    "ours": loads[0]["ops_per_s"],
                    "reference": loads[1]["ops_per_s"],
                },
            },
        )
    ]


def restart(bench: Bench) -> list[Row]:
    s = bench.scale
    last = f"/bench/r{s.restart_keys - 1}"
    with bench.pair("restart") as (ours, ref):
        started = time.perf_counter()
        loads = bench.fill([ours, ref], s.restart_keys, "/bench/r")
        load_s = time.perf_counter() - started
        timeout = max(60.0, s.restart_keys / 5000)
        restarts = {side.label: side.restart(last, timeout) for side in (ours, ref)}
    return [
        Row(
            phase="restart",
            figure=f"restart to ready holding {s.restart_keys:,} keys",
            unit="s",
            ours=restarts["ours"].ready_seconds,
            reference=restarts["reference"].ready_seconds,
            target=target("restart"),
            detail={
                "load_seconds": load_s,
                "load_ops_per_s": {
                    "ours": loads[0]["ops_per_s"],
                    "reference": loads[1]["ops_per_s"],
                },
                "stop_seconds": {k: r.stop_seconds for k, r in restarts.items()},
            },
        )
    ]
