"""corral-store's etcd backend against the etcd cluster it stands on: PUT and GET.

One 3-member etcd cluster on 127.0.0.1 and one gateway over it. "ours" is the
gateway (v2 API, state in etcd v3); "reference" is the same cluster's own v2 API on
the member the gateway sends to first, so the only difference is the gateway's hop
and its mapping. Target: at least 0.7 of the reference for both (RECIPES.md: a
member's v2 GET is served locally, not linearizable; the gateway's GETs are).

Run alone with `python -m bench.phases.gateway [--smoke]`; `PHASES` lists it as
"gateway" once the bench smoke test reads its phase list from `PHASES`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.context import FULL, SMOKE, Bench
from bench.phases.throughput import _drive, _row
from bench.report import Report, Row, Target, render
from bench.servers import SetupError, Side
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import etcd_cluster

TARGET = Target(0.7)
# Each side runs for half this at least: a gateway PUT can take longer than a smoke
# run's whole window on a busy machine, which would measure nothing.
MIN_SECONDS = 2.0


def _long_enough(bench: Bench) -> Bench:
    seconds = max(bench.scale.seconds, MIN_SECONDS)
    return dataclasses.replace(bench, scale=dataclasses.replace(bench.scale, seconds=seconds))


@contextmanager
def _site(bench: Bench, name: str) -> Iterator[tuple[Side, Side]]:
    base = bench.work_dir / name
    if base.exists():
        raise SetupError(f"{base} exists: each phase needs fresh data (use a new --work-dir)")
    members = etcd_cluster(base, 3, extra_args=ETCD_OPTIONS)
    store = None
    try:
        store = gateway(base / "gateway", members).start(timeout=30)
        yield Side("ours", store), Side("reference", members[0])
    finally:
        if store is not None:
            store.stop()
        for m in members:
            m.stop()


def put(bench: Bench) -> list[Row]:
    bench = _long_enough(bench)
    s = bench.scale
    with _site(bench, "gateway-put") as sides:
        # the keys exist and the gateway holds its connections to etcd before timing
        bench.fill(list(sides), s.keys, "/bench/k")
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=1.0)
    figure = f"gateway PUT over 3 members, {s.concurrency} concurrent, vs their v2"
    return [_row("gateway", figure, ours, ref, TARGET)]


def get(bench: Bench) -> list[Row]:
    bench = _long_enough(bench)
    s = bench.scale
    with _site(bench, "gateway-get") as sides:
        bench.fill(list(sides), s.keys, "/bench/k")
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=0.0)
    figure = f"gateway GET over 3 members, {s.concurrency} concurrent, vs their v2"
    return [_row("gateway", figure, ours, ref, TARGET)]


def both(bench: Bench) -> list[Row]:
    return put(bench) + get(bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.gateway")
    parser.add_argument("--smoke", action="store_true", help="2 s per side instead of 8")
    parser.add_argument("--work-dir", type=Path, help="scratch space (removed at the end)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="corral-bench-gateway-"))
    bench = Bench(SMOKE if args.smoke else FULL, work, "store")
    report = Report(meta={"smoke": args.smoke, "loadavg_before": os.getloadavg()})
    try:
        report.add(*both(bench))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(report, "corral-store etcd gateway", "etcd v2 on the same cluster"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
