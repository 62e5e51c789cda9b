"""corral-store's etcd backend against the etcd cluster it stands on: PUT and GET.

One 3-member etcd cluster on 127.0.0.1 and one gateway over it. "ours" is the
gateway (v2 API, state in etcd v3); "reference" is the same cluster's own v2 API on
one member, so the only difference is the gateway's hop and its mapping. Targets (as
much as the reference for both) are in bench/targets.py. Plain GETs on both sides have
the same guarantee: a member serves its v2 GET locally, the gateway from its replica.
After the PUTs, the members' CPU per write (all three, from /proc) for a count of
PUTs through each side. A second cluster, with two gateways, serves the GETs, then
the watch lag between its gateways and writes resuming after its leader's SIGKILL
(bench/phases/gateway_timing.py).

Run alone with `python -m bench.phases.gateway [--smoke]`; `PHASES` lists it as
"gateway" once the bench smoke test reads its phase list from `PHASES`.

`--ceiling` measures what bounds the gateway instead: the requests it sends to etcd
(the transaction of a `set`, with its compares and op record; a range), sent straight
to etcd's JSON gateway at the same concurrency, next to the same cluster's v2 PUT and
GET, from one lean in-process client (raw HTTP/1.1 keep-alive on uvloop). With
`--grpc` (needs grpcio) the same transactions go over etcd's gRPC API too
(bench/phases/grpc_txn.py), each rate also shown as a fraction of v2 PUT.

Not reproducible here: the same with etcd 3.5 (Debian 12 ships etcd 3.4 only).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from bench import procfs
from bench.connection import connect
from bench.context import FULL, SMOKE, Bench
from bench.phases import gateway_timing
from bench.phases.throughput import _drive, _row
from bench.report import Report, Row, render
from bench.servers import SetupError, Side
from bench.targets import target
from bench.wire import get_request, keys_path, put_request
from corral.store.etcdv3.layout import OP_KEY, Kv, b64, v3_key
from corral.store.etcdv3.plan import View, plan_write
from corral.store.etcdv3.testing import ETCD_OPTIONS
from corral.store.keys_request import KeysRequest
from corral.testing import EtcdServer, etcd_cluster

# Each side runs for half this at least: a gateway PUT can take longer than a smoke
# run's whole window on a busy machine, which would measure nothing.
MIN_SECONDS = 2.0
WROTE = b'"succeeded":true'  # a transaction whose compares held
CPU_WRITES_FULL = 8000  # PUTs per side for the members' CPU per write
CPU_WRITES_SMOKE = 200


def _long_enough(bench: Bench) -> Bench:
    seconds = max(bench.scale.seconds, MIN_SECONDS)
    return dataclasses.replace(bench, scale=dataclasses.replace(bench.scale, seconds=seconds))


def _sides(site: gateway_timing.Cluster) -> tuple[Side, Side]:
    return Side("ours", site.gateways[0]), Side("reference", site.members[0])


def put(bench: Bench) -> list[Row]:
    bench = _long_enough(bench)
    s = bench.scale
    with gateway_timing.cluster(bench, "gateway-put", gateways=1) as site:
        sides = _sides(site)
        # the keys exist and the gateway holds its connections to etcd before timing
        bench.fill(list(sides), s.keys, "/bench/k")
        ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=1.0)
        one, one_ref = _drive(bench, sides, connections=1, keys=s.keys, put_fraction=1.0)
        cpu = _cpu_per_write(bench, sides, site.members)
    figure = f"gateway PUT over 3 members, {s.concurrency} concurrent, vs their v2"
    return [
        _row("gateway", figure, ours, ref, target("gateway-put")),
        _row("gateway", "gateway single-client PUT latency p50, vs their v2", one, one_ref,
             target("gateway-latency"), key="p50_ms", unit="ms"),
        Row(
            phase="gateway",
            figure="etcd members' CPU per write: gateway PUT (a v3 txn) vs their v2 PUT",
            unit="cpu-ms",
            ours=cpu["members_ms"]["ours"],
            reference=cpu["members_ms"]["reference"],
            errors=cpu["errors"],
            note="all 3 members, from /proc; the watch feeding the gateway included",
            detail={"gateway_ms": cpu["gateway_ms"], "writes": cpu["writes"]},
        ),
    ]


def _cpu_per_write(
    bench: Bench, sides: tuple[Side, Side], members: list[EtcdServer]
) -> dict[str, Any]:
    """CPU the members (and the gateway) spend per PUT answered: a count of PUTs at full
    concurrency through each side, half at a time in the order ours, ref, ref, ours,
    with every member's CPU read from /proc around each half (their idle raft
    heartbeats included: a fraction of a percent of a core)."""
    s = bench.scale
    count = CPU_WRITES_SMOKE if bench.scale.seconds < 1 else CPU_WRITES_FULL
    members_s = {"ours": 0.0, "reference": 0.0}
    gateway_s = 0.0
    writes = {"ours": 0, "reference": 0}
    errors = 0
    ours = sides[0]
    for side in (sides[0], sides[1], sides[1], sides[0]):
        m0 = sum(procfs.cpu_seconds(m.pid) for m in members)
        g0 = procfs.cpu_seconds(ours.server.pid)
        result = bench.load(side, count=count // 2, connections=s.concurrency, keys=s.keys,
                            put_fraction=1.0)  # fmt: skip
        members_s[side.label] += sum(procfs.cpu_seconds(m.pid) for m in members) - m0
        if side is ours:
            gateway_s += procfs.cpu_seconds(ours.server.pid) - g0
        writes[side.label] += result["ops"]
        errors += result["errors"]
    return {
        "members_ms": {k: 1000 * v / max(1, writes[k]) for k, v in members_s.items()},
        "gateway_ms": 1000 * gateway_s / max(1, writes["ours"]),
        "writes": writes,
        "errors": errors,
    }


def get(bench: Bench, site: gateway_timing.Cluster) -> list[Row]:
    bench = _long_enough(bench)
    s = bench.scale
    sides = _sides(site)
    bench.fill(list(sides), s.keys, "/bench/k")
    ours, ref = _drive(bench, sides, connections=s.concurrency, keys=s.keys, put_fraction=0.0)
    figure = f"gateway GET over 3 members, {s.concurrency} concurrent, vs their v2"
    return [_row("gateway", figure, ours, ref, target("gateway-get"))]


def both(bench: Bench) -> list[Row]:
    rows = put(bench)
    # one more cluster, with a second gateway for the watch lag; the failover kills
    # members, so it comes last
    with gateway_timing.cluster(bench, "gateway-get", gateways=2) as site:
        rows += get(bench, site)
        rows += gateway_timing.watch_lag(bench, site)
        rows += gateway_timing.failover(bench, site)
    return rows


def _post(host: str, path: str, body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def set_txn(path: str, value: str) -> dict[str, object]:
    """The transaction the gateway sends for `PUT path value=...` over an existing key,
    its compares made to hold at any revision (a failed compare writes nothing)."""

    def kv(p: str, is_dir: bool) -> Kv:
        return Kv(p, is_dir, "" if is_dir else value, 0, "0" * 16, 2, 2, 0, 0)

    parent = path.rsplit("/", 1)[0]
    view = View(3, {parent: kv(parent, True)}, kv(path, False), False, 3)
    plan = plan_write(KeysRequest("PUT", path, value), view, time.time_ns())
    body = plan.txn("0" * 16, 0, json.dumps({"a": plan.action, "n": plan.node}).encode())
    for c in body["compare"]:
        c.update(result="GREATER", mod_revision="0")
    return body


async def _rate(
    urls: list[str], request: Callable[[int], bytes], seconds: float, expect: bytes = b""
) -> float:
    """Requests answered with success (and `expect` in the body) per second,
    `concurrency` connections spread over `urls`."""
    conns = [await connect(urls[w % len(urls)]) for w in range(FULL.concurrency)]
    done = [0]
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < stop:
            resp, _ = await conns[w].send(request(i))
            if (
                resp.status not in (200, 201)
                or b'"error"' in resp.body[:40]
                or expect not in resp.body
            ):
                raise SetupError(f"etcd refused a ceiling request: {resp.body[:200]!r}")
            done[0] += 1
            i += len(conns)

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(len(conns))))
    rate = done[0] / (time.perf_counter() - start)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return rate


async def _ceilings(members: list[EtcdServer], seconds: float, keys: int) -> dict[str, float]:
    one, every = [members[0].url], [m.url for m in members]
    hosts = [u.split("//", 1)[1] for u in every]
    value = "v" * 256
    txns = [set_txn(f"/bench/k{i}", value) for i in range(keys)]
    ranges = [{"key": b64(v3_key(f"/bench/k{i}"))} for i in range(keys)]
    probe = {"key": b64(OP_KEY), "keys_only": True}

    def txn(i: int) -> bytes:  # Host is not checked: the same bytes go to any member
        return _post(hosts[0], "/v3/kv/txn", txns[i % keys])

    def v2_put(i: int) -> bytes:
        return put_request(hosts[0], keys_path(f"/ceiling/k{i % keys}"), value.encode())

    # the directory and the keys exist, so every compare holds and every txn writes
    paths = ["/bench", *(f"/bench/k{i}" for i in range(keys))]
    load = {"success": [{"request_put": {"key": b64(v3_key(p)), "value": ""}} for p in paths]}
    await _rate(one, lambda i: _post(hosts[0], "/v3/kv/txn", load), 0.1)
    await _rate(every, txn, 1.0, WROTE)
    await _rate(one, v2_put, 1.0)
    return {
        "v2 PUT, member 0": await _rate(one, v2_put, seconds),
        "v3 txn of a set, member 0": await _rate(one, txn, seconds, WROTE),
        "v3 txn of a set, all 3 members": await _rate(every, txn, seconds, WROTE),
        "v2 GET, member 0": await _rate(
            one, lambda i: get_request(hosts[0], keys_path(f"/ceiling/k{i % keys}")), seconds
        ),
        "v3 range of a key, member 0": await _rate(
            one, lambda i: _post(hosts[0], "/v3/kv/range", ranges[i % keys]), seconds
        ),
        "v3 range of the op record, member 0": await _rate(
            one, lambda i: _post(hosts[0], "/v3/kv/range", probe), seconds
        ),
    }


def ceiling(work: Path, seconds: float, over_grpc: bool = False) -> str:
    members = etcd_cluster(work / "ceiling", 3, extra_args=ETCD_OPTIONS)
    try:
        rates = uvloop.run(_ceilings(members, seconds, 1000))
        if over_grpc:  # grpcio's asyncio wants the standard event loop
            rates.update(asyncio.run(_grpc_ceilings(members, seconds, 1000)))
    finally:
        for m in members:
            m.stop()
    lines = [f"{name:40s} {rate:8,.0f} req/s" for name, rate in rates.items()]
    v2 = rates["v2 PUT, member 0"]
    lines += [f"{name:40s} {rate / v2:8.2f} of v2 PUT" for name, rate in rates.items()
              if "txn" in name]  # fmt: skip
    return "\n".join([f"{FULL.concurrency} concurrent, {seconds:g} s each", *lines])


async def _grpc_ceilings(members: list[EtcdServer], seconds: float, keys: int) -> dict[str, float]:
    """The same set transactions as `_ceilings` sends, over etcd's gRPC API."""
    from bench.phases import grpc_txn

    txns = [grpc_txn.encode_txn(set_txn(f"/bench/k{i}", "v" * 256)) for i in range(keys)]
    one, every = [members[0].url], [m.url for m in members]
    hosts = [[u.split("//", 1)[1] for u in urls] for urls in (one, every)]
    n = FULL.concurrency
    await grpc_txn.rate(hosts[1], lambda i: txns[i % keys], 1.0, n)  # warm up
    return {
        "v3 txn of a set over gRPC, member 0": await grpc_txn.rate(
            hosts[0], lambda i: txns[i % keys], seconds, n
        ),
        "v3 txn of a set over gRPC, all 3": await grpc_txn.rate(
            hosts[1], lambda i: txns[i % keys], seconds, n
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.gateway")
    parser.add_argument("--smoke", action="store_true", help="2 s per side instead of 8")
    parser.add_argument("--ceiling", action="store_true", help="etcd's JSON gateway alone")
    parser.add_argument(
        "--grpc",
        action="store_true",
        help="with --ceiling: the same transactions over gRPC too (needs grpcio)",
    )
    parser.add_argument("--work-dir", type=Path, help="scratch space (removed at the end)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="corral-bench-gateway-"))
    if args.grpc and not args.ceiling:
        parser.error("--grpc is a what-if of --ceiling")
    if args.grpc and importlib.util.find_spec("grpc") is None:
        parser.error("--grpc needs grpcio: pip install grpcio (the bench's grpc-whatif extra)")
    if args.ceiling:
        try:
            print(ceiling(work, 1.0 if args.smoke else 4.0, args.grpc))
            print(f"load average {os.getloadavg()}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
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
