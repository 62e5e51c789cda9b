"""The lean load generator: one process, asyncio on uvloop, raw HTTP/1.1 keep-alive.

Run as `python -m bench.loadgen JOB_JSON [RESULT_PATH]`; it writes one JSON result to
RESULT_PATH (the harness's way) or to stdout. The
harness always starts it as a separate process so its CPU is its own, and it reports
that CPU (getrusage) over the measured window: near one core means the generator,
not the server, was the bottleneck.

Jobs:
- "load": N connections, each with exactly one request in flight, PUT and/or GET of
  `value_size`-byte values, for `seconds` (after `warmup`) or for `count` requests
  (`sequential` writes keys prefix0..prefixN-1 once each, for loading data).
- "fanout": `watchers` long-poll watches on one key with waitIndex set to the next
  index, one PUT, time until every watcher has its event; repeated `rounds` times.

Invariants: every request either completes (counted by status) or is an error; a
stuck server cannot hang the job: it ends by `timeout` and counts what is in flight.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.connection import Connection, connect
from bench.fanout import run_fanout
from bench.job import Job, JobError
from bench.stats import cpu_seconds, ms, percentile
from bench.tally import Tally
from bench.wire import get_request, keys_path, put_request

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a bench dependency
    uvloop = None

# A worker whose connection keeps breaking gives up rather than spin on errors.
MAX_RECONNECTS = 10


def request_source(job: Job, worker: int, issued: list[int]) -> Callable[[], bytes | None]:
    """The next request for one worker, or None when a `count` job has issued all."""
    rng = random.Random(job.seed * 1000 + worker)
    value = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(job.value_size))
    body = value.encode()
    host = job.host
    if job.sequential:

        def next_sequential() -> bytes | None:
            i = issued[0]
            if job.count is not None and i >= job.count:
                return None
            issued[0] = i + 1
            return put_request(host, keys_path(f"{job.key_prefix}{i}"), body)

        return next_sequential
    paths = [keys_path(f"{job.key_prefix}{i}") for i in range(job.keys)]
    gets = [get_request(host, p) for p in paths]
    puts = [put_request(host, p, body) for p in paths]
    put_fraction = job.put_fraction
    count = job.count
    pick = rng.randrange
    chance = rng.random

    def next_random() -> bytes | None:
        if count is not None:
            if issued[0] >= count:
                return None
            issued[0] += 1
        i = pick(len(paths))
        return puts[i] if put_fraction >= 1.0 or chance() < put_fraction else gets[i]

    return next_random


async def run_load(job: Job) -> dict[str, Any]:
    conns = await asyncio.gather(*(connect(job.url) for _ in range(job.connections)))
    tally = Tally()
    issued = [0]
    start = time.perf_counter()
    measure_from = start + (job.warmup if job.seconds is not None else 0.0)
    stop_at = measure_from + job.seconds if job.seconds is not None else float("inf")
    cpu_start: list[float] = []

    async def worker(n: int, conn: Connection) -> None:
        next_request = request_source(job, n, issued)
        failures = 0
        retry: bytes | None = None
        attempts = 0
        while True:
            request = retry or next_request()
            retry = None
            if request is None:
                return
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                response, t1 = await conn.send(request)
            except (OSError, ConnectionError) as exc:
                if attempts < job.retries:
                    attempts, retry = attempts + 1, request
                    tally.retried += 1
                else:
                    attempts = 0
                    tally.error(f"{type(exc).__name__}: {exc}")
                failures += 1
                if failures > MAX_RECONNECTS:
                    return
                conn = await connect(job.url)
                continue
            ok = 200 <= response.status < 300
            if response.status >= 500 and attempts < job.retries:
                attempts, retry = attempts + 1, request
                tally.retried += 1
                continue
            attempts = 0
            if measure_from <= t1 <= stop_at:  # throughput: what completed in the window
                tally.statuses[response.status] += 1
                if ok:  # a failed request is an error, never throughput
                    tally.completed += 1
                    tally.latencies.append(t1 - t0)
            if not ok:
                tally.error(f"HTTP {response.status}: {response.body[:200]!r}")

    async def cpu_mark() -> None:
        delay = max(0.0, measure_from - time.perf_counter())
        await asyncio.sleep(delay)
        cpu_start.append(cpu_seconds())

    marker = asyncio.ensure_future(cpu_mark())
    tasks = [asyncio.ensure_future(worker(n, c)) for n, c in enumerate(conns)]
    budget = (job.warmup + job.seconds if job.seconds is not None else 0.0) + job.timeout
    done, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
        tally.error("timeout: request still in flight when the job ended")
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            tally.error(f"worker failed: {task.exception()!r}")
    end = time.perf_counter()
    await marker
    cpu = cpu_seconds() - cpu_start[0]
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    window = min(end, stop_at) - measure_from if job.seconds is not None else end - start
    result: dict[str, Any] = {
        "mode": "load",
        "ops": tally.completed,  # 2xx answers only
        "seconds": window,
        "ops_per_s": tally.completed / window if window > 0 else 0.0,
        "p50_ms": ms(percentile(tally.latencies, 50)),
        "p99_ms": ms(percentile(tally.latencies, 99)),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "cpu_s": cpu,
        "cpu_fraction": cpu / (end - measure_from) if end > measure_from else None,
        "connections": job.connections,
        "retried": tally.retried,
    }
    if job.samples:
        result["latencies_us"] = [round(x * 1e6) for x in tally.latencies]
    return result


async def run(job: Job) -> dict[str, Any]:
    return await (run_load(job) if job.mode == "load" else run_fanout(job))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m bench.loadgen JOB_JSON [RESULT_PATH]", file=sys.stderr)
        return 2
    try:
        job = Job.parse(args[0])
    except JobError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    runner = uvloop.run if uvloop is not None else asyncio.run
    try:
        result = runner(run(job))
    except (OSError, ConnectionError, TimeoutError, ValueError, KeyError) as exc:
        print(f"loadgen: {job.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result) + "\n"
    if len(args) == 2:  # a file, not a pipe: a large result arrives whole or not at all
        path = Path(args[1])
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
