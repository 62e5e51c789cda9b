"""Request throughput and latency of the store against etcd: PUT, GET, mixed, one client.

Each phase starts a fresh pair and drives one side, then the other, with the same job
(same connections, keys, values, seed), so the only difference is the server.
"""

from __future__ import annotations

from typing import Any

from bench.context import Bench
from bench.report import Row, Target
from bench.scrape import scraping
from bench.servers import Side
from bench.stats import percentile
from bench.targets import target


def _row(
    phase: str,
    figure: str,
    ours: dict[str, Any],
    ref: dict[str, Any],
    target: Target,
    key: str = "ops_per_s",
    unit: str = "ops/s",
) -> Row:
    return Row(
        phase=phase,
        figure=figure,
        unit=unit,
        ours=ours[key],
        reference=ref[key],
        target=target,
        loadgen_cpu=ours["cpu_fraction"],
        reference_loadgen_cpu=ref["cpu_fraction"],
        errors=ours["errors"] + ref["errors"] + ours["scrapes_failed"] + ref["scrapes_failed"],
        detail={
            "scrapes": {"ours": ours["scrapes"], "reference": ref["scrapes"]},
            "p50_ms": {"ours": ours["p50_ms"], "reference": ref["p50_ms"]},
            "p99_ms": {"ours": ours["p99_ms"], "reference": ref["p99_ms"]},
            "ops_per_s": {"ours": ours["ops_per_s"], "reference": ref["ops_per_s"]},
            "error_samples": ours["error_samples"] + ref["error_samples"],
        },
    )


def _drive(bench: Bench, sides: tuple[Side, Side], **job: Any) -> list[dict[str, Any]]:
    """Each side for half the time, in the order ours, ref, ref, ours, so a change in
    background load (the machine is shared) falls on both sides alike; the side under
    load is scraped for metrics once a second meanwhile, as Prometheus would."""
    s = bench.scale
    ours, ref = sides
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    for side in (ours, ref, ref, ours):
        with scraping(side.url) as scrapes:
            half = bench.load(side, seconds=s.seconds / 2, warmup=s.warmup, samples=True, **job)
        half["scrapes"], half["scrapes_failed"] = scrapes.ok, scrapes.failed
        half["error_samples"] = half["error_samples"] + [f"scrape: {f}" for f in scrapes.failures]
        runs[side.label].append(half)
    return [_combine(runs["ours"]), _combine(runs["reference"])]


def _combine(halves: list[dict[str, Any]]) -> dict[str, Any]:
    """Two runs as one: operations, seconds, CPU and errors add up; percentiles are
    taken over the pooled latencies of both."""
    seconds = sum(h["seconds"] for h in halves)
    cpu = sum(h["cpu_s"] for h in halves)
    latencies = [us / 1000 for h in halves for us in h["latencies_us"]]
    return {
        "ops_per_s": sum(h["ops"] for h in halves) / seconds,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": sum(h["errors"] for h in halves),
        "scrapes": sum(h["scrapes"] for h in halves),
        "scrapes_failed": sum(h["scrapes_failed"] for h in halves),
        "error_samples": [e for h in halves for e in h["error_samples"]][:5],
        "cpu_fraction": cpu / seconds if seconds > 0 else None,
    }


def put(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("put") as sides:
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=1.0)
    figure = f"PUT, {s.concurrency} concurrent, {s.value_size} B"
    return [_row("put", figure, ours, ref, target("put"))]


def get(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("get") as sides:
        bench.fill(list(sides), s.keys, "/bench/k")
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=0.0)
    return [_row("get", f"GET, {s.concurrency} concurrent", ours, ref, target("get"))]


def mixed(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("mixed") as sides:
        bench.fill(list(sides), s.keys, "/bench/k")
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=0.1)
    figure = f"mixed 90% GET/10% PUT, {s.concurrency} concurrent"
    return [_row("mixed", figure, ours, ref, target("mixed"))]


def latency(bench: Bench) -> list[Row]:
    s = bench.scale
    with bench.pair("latency") as sides:
        ours, ref = _drive(bench, sides, connections=1, keys=s.keys, put_fraction=1.0)
    return [
        _row(
            "latency",
            "single-client PUT latency p50",
            ours,
            ref,
            target("latency"),
            key="p50_ms",
            unit="ms",
        )
    ]
