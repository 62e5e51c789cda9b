"""The watch fan-out job: `watchers` long-poll watches on one key, one PUT, time until
every watcher has its event; `rounds` times.

Each round the watchers ask for waitIndex = the last write's index + 1, so no event can
be missed between rounds, and the PUT is sent only once the server reports all watchers
registered (etcd's /v2/stats/store `watchers`), or, if it does not report that, after
one round trip on another connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.connection import Connection, connect
from bench.job import Job
from bench.stats import cpu_seconds, ms, percentile
from bench.tally import Tally
from bench.wire import Response, get_request, keys_path, put_request


def _index_of(response: Response) -> int:
    if response.etcd_index is not None:
        node = json.loads(response.body).get("node", {})
        return max(response.etcd_index, int(node.get("modifiedIndex", 0)))
    return int(json.loads(response.body)["node"]["modifiedIndex"])


async def _watchers_registered(conn: Connection, job: Job, want: int) -> bool:
    """Poll /v2/stats/store until `want` watchers are registered; False if the server
    does not report watchers (then the barrier is one round trip, see run_fanout)."""
    request = get_request(job.host, "/v2/stats/store")
    deadline = time.perf_counter() + 2.0
    while time.perf_counter() < deadline:
        response, _ = await conn.send(request)
        if response.status != 200:
            return False
        try:
            watchers = json.loads(response.body).get("watchers")
        except (ValueError, AttributeError):
            return False
        if not isinstance(watchers, int):
            return False
        if watchers >= want:
            return True
        await asyncio.sleep(0.001)
    raise TimeoutError(f"only {watchers} of {want} watchers registered after 2 s")


async def run_fanout(job: Job) -> dict[str, Any]:
    watchers = await asyncio.gather(*(connect(job.url) for _ in range(job.watchers)))
    writer = await connect(job.url)
    observer = await connect(job.url)
    path = keys_path(job.key_prefix + "watch")
    setup, _ = await writer.send(put_request(job.host, path, b"r-setup"))
    if not 200 <= setup.status < 300:
        raise ConnectionError(f"setup PUT answered {setup.status}: {setup.body[:200]!r}")
    index = _index_of(setup)
    tally = Tally()
    samples: list[float] = []
    barrier = "stats"
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for n in range(job.rounds):
        watch = get_request(job.host, f"{path}?wait=true&waitIndex={index + 1}")
        pending = [w.send(watch) for w in watchers]
        if barrier == "stats" and not await _watchers_registered(observer, job, job.watchers):
            barrier = "round-trip"
        if barrier == "round-trip":
            await observer.send(get_request(job.host, path))
        token = f"r{n}x{job.seed}".encode()
        t0 = time.perf_counter()
        written = writer.send(put_request(job.host, path, token))
        done, late = await asyncio.wait(pending, timeout=job.timeout)
        for fut in late:
            fut.cancel()
            tally.error("timeout: watcher not notified")
        arrivals = []
        for fut in done:
            if fut.exception() is not None:
                tally.error(f"watcher failed: {fut.exception()!r}")
                continue
            response, t1 = fut.result()
            if response.status != 200 or token not in response.body:
                tally.error(f"watcher got {response.status}: {response.body[:200]!r}")
                continue
            arrivals.append(t1)
        response, _ = await asyncio.wait_for(written, job.timeout)
        if not 200 <= response.status < 300:
            raise ConnectionError(f"PUT answered {response.status}: {response.body[:200]!r}")
        index = _index_of(response)
        if late or len(arrivals) < len(watchers):
            break  # a broken connection cannot be reused for the next round
        samples.append(max(arrivals) - t0)
    wall = time.perf_counter() - wall0
    cpu = cpu_seconds() - cpu0
    for conn in [*watchers, writer, observer]:
        if conn.transport is not None:
            conn.transport.close()
    return {
        "mode": "fanout",
        "rounds": len(samples),
        "watchers": job.watchers,
        "barrier": barrier,
        "samples_ms": [s * 1000 for s in samples],
        "p50_ms": ms(percentile(samples, 50)),
        "p99_ms": ms(percentile(samples, 99)),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "cpu_s": cpu,
        "cpu_fraction": cpu / wall if wall > 0 else None,
    }
