"""Watch fan-out: many long-poll watchers on one key, one write, time until all have it.

Each round the watchers ask for the next index (waitIndex), so an event can never be
missed between rounds; the write is sent only once the server reports every watcher
registered (etcd's /v2/stats/store `watchers`), or, where a server does not report
that, after one more round trip on another connection.
"""

from __future__ import annotations

from bench.context import Bench
from bench.report import Row, Target


def fanout(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("watch") as sides:
        ours, ref = (
            bench.load(side, mode="fanout", watchers=s.watchers, rounds=s.watch_rounds)
            for side in sides
        )
    common = {
        "phase": "watch",
        "unit": "ms",
        "loadgen_cpu": ours["cpu_fraction"],
        "reference_loadgen_cpu": ref["cpu_fraction"],
        "errors": ours["errors"] + ref["errors"],
    }
    detail = {
        "rounds": {"ours": ours["rounds"], "reference": ref["rounds"]},
        "barrier": {"ours": ours["barrier"], "reference": ref["barrier"]},
        "error_samples": ours["error_samples"] + ref["error_samples"],
    }
    figure = f"watch fan-out, {s.watchers} watchers, all notified"
    return [
        Row(figure=f"{figure} p50", ours=ours["p50_ms"], reference=ref["p50_ms"], **common),
        Row(
            figure=f"{figure} p99",
            ours=ours["p99_ms"],
            reference=ref["p99_ms"],
            target=Target(1.0, "lower"),
            detail=detail,
            **common,
        ),
    ]
