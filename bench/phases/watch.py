"""Watch fan-out: many long-poll watchers on one key, one write, time until all have it.

Each round the watchers ask for the next index (waitIndex), so an event can never be
missed between rounds; the write is sent only once the server reports every watcher
registered (etcd's /v2/stats/store `watchers`), or, where a server does not report
that, after one more round trip on another connection.
"""

from __future__ import annotations

from typing import Any

from bench.context import Bench
from bench.report import Row
from bench.stats import percentile
from bench.targets import target


def _combine(halves: list[dict[str, Any]]) -> dict[str, Any]:
    """Two fan-out runs as one: the rounds' samples pooled, so percentiles stay exact."""
    samples = [x for h in halves for x in h["samples_ms"]]
    cpu = sum(h["cpu_s"] for h in halves)
    wall = sum(h["cpu_s"] / h["cpu_fraction"] for h in halves if h["cpu_fraction"])
    return {
        "rounds": len(samples),
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "barrier": ",".join(sorted({h["barrier"] for h in halves})),
        "errors": sum(h["errors"] for h in halves),
        "error_samples": [e for h in halves for e in h["error_samples"]][:5],
        "cpu_fraction": cpu / wall if wall else None,
    }


def fanout(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("watch") as (ours_side, ref_side):
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
        # half the rounds each, ours, ref, ref, ours, as in the throughput phases
        for side in (ours_side, ref_side, ref_side, ours_side):
            job = {"mode": "fanout", "watchers": s.watchers, "rounds": max(1, s.watch_rounds // 2)}
            runs[side.label].append(bench.load(side, **job))
    ours, ref = _combine(runs["ours"]), _combine(runs["reference"])
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
            target=target("watch"),
            detail=detail,
            **common,
        ),
    ]
