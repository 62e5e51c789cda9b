"""The etcd backend's timing claims, measured: watch lag between gateways, and writes
resuming after the etcd leader's SIGKILL.

- watch lag: two gateways over the same 3 members. Each round a watcher waits on
  gateway B (`waitIndex` = the next index; the write is sent only once B reports the
  watcher registered), a PUT goes through gateway A, and the lag is from A's answer
  arriving to B's event arriving (negative when B's event came first). The reference
  is the same through two members' own v2 API. Target: p99 within milliseconds
  (bench/targets.py "gateway-watch-lag").
- failover: one gateway, one writer sending PUTs one after another; the etcd leader is
  SIGKILLed, and the figure is from the kill to the answer of the first PUT *sent*
  after it (a PUT sent before the kill may be answered after it and prove nothing).
  The member is restarted and rejoins before the next round. Target: <= 3 s.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvloop

from bench.connection import Connection, connect
from bench.context import Bench
from bench.report import Row
from bench.servers import SetupError
from bench.stats import percentile
from bench.targets import target
from bench.wire import get_request, keys_path, put_request
from corral.client import Client, StoreError
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import EtcdServer, StoreServer, etcd_cluster, wait_until

LAG_ROUNDS_FULL = 500
LAG_ROUNDS_SMOKE = 20
FAILOVER_ROUNDS_FULL = 5
WAIT = 10.0  # seconds a watcher waits for its event before the round is an error


@dataclass
class Cluster:
    members: list[EtcdServer]
    gateways: list[StoreServer] = field(default_factory=list)


@contextmanager
def cluster(bench: Bench, name: str, gateways: int) -> Iterator[Cluster]:
    base = bench.work_dir / name
    if base.exists():
        raise SetupError(f"{base} exists: each phase needs fresh data (use a new --work-dir)")
    site = Cluster(etcd_cluster(base, 3, extra_args=ETCD_OPTIONS))
    try:
        for n in range(gateways):
            site.gateways.append(gateway(base / f"gateway{n}", site.members).start(timeout=30))
        yield site
    finally:
        for g in site.gateways:
            g.stop()
        for m in site.members:
            m.stop()


# -- watch lag ------------------------------------------------------------------------


async def _registered(conn: Connection, host: str, want: int) -> None:
    deadline = time.perf_counter() + WAIT
    while time.perf_counter() < deadline:
        response, _ = await conn.send(get_request(host, "/v2/stats/store"))
        if json.loads(response.body).get("watchers", 0) >= want:
            return
        await asyncio.sleep(0.0005)
    raise TimeoutError(f"watcher not registered on {host} within {WAIT:g} s")


async def _lags(write_url: str, watch_url: str, rounds: int, key: str) -> tuple[list[float], int]:
    """Lag samples in ms, and the rounds whose event never came (errors)."""
    writer, watcher, observer = [await connect(u) for u in (write_url, watch_url, watch_url)]
    whost, rhost = write_url.split("//", 1)[1], watch_url.split("//", 1)[1]
    path = keys_path(key)
    first, _ = await writer.send(put_request(whost, path, b"start"))
    index = int(json.loads(first.body)["node"]["modifiedIndex"])
    samples: list[float] = []
    errors = 0
    for n in range(rounds):
        event = watcher.send(get_request(rhost, f"{path}?wait=true&waitIndex={index + 1}"))
        await _registered(observer, rhost, 1)
        token = f"lag{n}".encode()
        response, acked = await writer.send(put_request(whost, path, token))
        index = int(json.loads(response.body)["node"]["modifiedIndex"])
        try:
            got, arrived = await asyncio.wait_for(event, WAIT)
        except TimeoutError:
            errors += 1
            break  # the watcher's connection holds a request: it cannot go on
        if token not in got.body:
            errors += 1
            continue
        samples.append((arrived - acked) * 1000)
    for c in (writer, watcher, observer):
        if c.transport is not None:
            c.transport.close()
    return samples, errors


def watch_lag(bench: Bench, site: Cluster) -> list[Row]:
    """On a cluster with two gateways."""
    rounds = LAG_ROUNDS_SMOKE if bench.scale.watch_rounds < 100 else LAG_ROUNDS_FULL
    a, b = site.gateways[:2]
    ours, ours_errors = uvloop.run(_lags(a.url, b.url, rounds, "/bench/lag"))
    m0, m1 = site.members[:2]
    ref, ref_errors = uvloop.run(_lags(m0.url, m1.url, rounds, "/bench/lag-v2"))
    figure = f"watch lag, write acked by gateway A to event at gateway B, {rounds} rounds"
    common = {"phase": "gateway", "unit": "ms", "errors": ours_errors + ref_errors}
    note = "reference: etcd v2, write on member 0, watch on member 1"
    return [
        Row(
            figure=f"{figure} p50",
            ours=percentile(ours, 50),
            reference=percentile(ref, 50),
            note=note,
            **common,
        ),
        Row(
            figure=f"{figure} p99",
            ours=percentile(ours, 99),
            reference=percentile(ref, 99),
            target=target("gateway-watch-lag"),
            detail={
                "max_ms": {"ours": max(ours, default=None), "reference": max(ref, default=None)},
                "rounds": {"ours": len(ours), "reference": len(ref)},
            },
            **common,
        ),
    ]


# -- failover -------------------------------------------------------------------------


def _leader(members: list[EtcdServer]) -> EtcdServer:
    status = {}
    for m in members:
        if not m.alive():
            continue
        req = urllib.request.Request(m.url + "/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = json.load(resp)
        status[m.name] = (body["header"]["member_id"], body["leader"])
    leaders = {lead for _, lead in status.values()}
    if len(leaders) != 1:
        raise SetupError(f"the members do not agree on a leader: {status}")
    (lead,) = leaders
    return next(m for m in members if m.name in status and status[m.name][0] == lead)


def _agreed(members: list[EtcdServer]) -> bool:
    """Every member up and agreeing on one leader."""
    try:
        _leader(members)
    except (SetupError, OSError, ValueError, KeyError):
        return False
    return all(m.alive() for m in members)


class Writer:
    """PUTs one after another through one gateway, each with its send and answer time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered: list[tuple[float, float]] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = Client(self.url, timeout=15)
        i = 0
        while not self.stop.is_set():
            i += 1
            sent = time.monotonic()
            try:
                client.set(f"/bench/failover/k{i % 100}", str(i))
            except StoreError:  # refused while etcd elects: allowed, never lost
                self.refused += 1
                continue
            self.answered.append((sent, time.monotonic()))
        client.close()

    def resumed(self, killed: float) -> float | None:
        after = [acked for sent, acked in self.answered if sent > killed]
        return after[0] - killed if after else None


def failover(bench: Bench, site: Cluster) -> list[Row]:
    """On a cluster with a gateway; kills and restarts its members (run it last)."""
    rounds = 1 if bench.scale.failover_rounds == 1 else FAILOVER_ROUNDS_FULL
    times: list[float] = []
    writer = Writer(site.gateways[0].url)
    writer.thread.start()
    try:
        for _ in range(rounds):
            wait_until(lambda: len(writer.answered) >= 20, 30, "writes going", 0.05)
            victim = _leader(site.members)
            killed = time.monotonic()
            victim.kill()
            wait_until(lambda k=killed: writer.resumed(k) is not None, 30, "writes resumed", 0.01)
            resumed = writer.resumed(killed)
            assert resumed is not None
            times.append(resumed)
            victim.start(timeout=30)
            wait_until(lambda: _agreed(site.members), 30, "member rejoined", 0.2)
            writer.answered.clear()
    finally:
        writer.stop.set()
        writer.thread.join(30)
    return [
        Row(
            phase="gateway",
            figure=f"writes resume after the etcd leader's SIGKILL, max of {rounds}",
            unit="s",
            ours=max(times),
            target=target("gateway-failover"),
            note="kill to the answer of the first PUT sent after it",
            detail={
                "times_s": times,
                "median_s": percentile(times, 50),
                "refused_while_electing": writer.refused,
            },
        )
    ]
