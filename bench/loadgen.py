"""The lean load generator: one process, asyncio on uvloop, raw HTTP/1.1 keep-alive.

Run as `python -m bench.loadgen JOB_JSON`; it prints one JSON result on stdout. The
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
import resource
import socket
import string
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from bench.stats import percentile
from bench.wire import Response, ResponseReader, get_request, keys_path, put_request

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a bench dependency
    uvloop = None


# A worker whose connection keeps breaking gives up rather than spin on errors.
MAX_RECONNECTS = 10


class JobError(ValueError):
    """The job description is unusable."""


@dataclass
class Job:
    url: str
    mode: str = "load"
    connections: int = 32
    seconds: float | None = None
    count: int | None = None
    warmup: float = 0.5
    put_fraction: float = 1.0
    keys: int = 1000
    key_prefix: str = "/bench/k"
    sequential: bool = False
    value_size: int = 256
    watchers: int = 100
    rounds: int = 20
    timeout: float = 30.0
    seed: int = 1

    @classmethod
    def parse(cls, text: str) -> Job:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JobError(f"job is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise JobError("job must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise JobError(f"unknown job fields: {', '.join(sorted(unknown))}")
        try:
            job = cls(**data)
        except TypeError as exc:
            raise JobError(str(exc)) from exc
        job.check()
        return job

    def check(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise JobError(f"url must be http://HOST:PORT, got {self.url!r}")
        if self.mode not in ("load", "fanout"):
            raise JobError(f"mode must be load or fanout, got {self.mode!r}")
        if self.connections < 1 or self.watchers < 1 or self.rounds < 1 or self.keys < 1:
            raise JobError("connections, watchers, rounds and keys must be >= 1")
        if self.mode == "load" and (self.seconds is None) == (self.count is None):
            raise JobError("a load job needs exactly one of seconds and count")
        if not 0.0 <= self.put_fraction <= 1.0:
            raise JobError("put_fraction must be within 0..1")

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.reader = ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[Response, float]] | None = None
        self.closed: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        try:
            responses = self.reader.feed(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP from server: {exc}"))
            return
        for response in responses:
            waiter, self.waiter = self.waiter, None
            if waiter is None:
                self._fail(ConnectionError("response without a request"))
                return
            if not waiter.done():
                waiter.set_result((response, now))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by server"))

    def _fail(self, exc: BaseException) -> None:
        self.closed = exc
        if self.transport is not None:
            self.transport.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future[tuple[Response, float]]:
        """Write one request; the future resolves to (response, time it arrived)."""
        assert self.waiter is None, "one request in flight per connection"
        fut: asyncio.Future[tuple[Response, float]]
        fut = asyncio.get_running_loop().create_future()
        if self.closed is not None or self.transport is None:
            fut.set_exception(self.closed or ConnectionError("not connected"))
            return fut
        self.waiter = fut
        self.transport.write(data)
        return fut


async def connect(job: Job) -> Connection:
    parts = urlsplit(job.url)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, parts.hostname, parts.port)
    return conn


@dataclass
class Tally:
    """What the workers saw; merged into the result at the end."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    completed: int = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    conns = await asyncio.gather(*(connect(job) for _ in range(job.connections)))
    tally = Tally()
    issued = [0]
    start = time.perf_counter()
    measure_from = start + (job.warmup if job.seconds is not None else 0.0)
    stop_at = measure_from + job.seconds if job.seconds is not None else float("inf")
    cpu_start: list[float] = []

    async def worker(n: int, conn: Connection) -> None:
        next_request = request_source(job, n, issued)
        failures = 0
        while True:
            request = next_request()
            if request is None:
                return
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                response, t1 = await conn.send(request)
            except (OSError, ConnectionError) as exc:
                tally.error(f"{type(exc).__name__}: {exc}")
                failures += 1
                if failures > MAX_RECONNECTS:
                    return
                conn = await connect(job)
                continue
            if t0 < measure_from:
                continue
            if t1 <= stop_at:
                tally.completed += 1
                tally.latencies.append(t1 - t0)
                tally.statuses[response.status] += 1
            if not 200 <= response.status < 300:
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
    return {
        "mode": "load",
        "ops": tally.completed,
        "seconds": window,
        "ops_per_s": tally.completed / window if window > 0 else 0.0,
        "p50_ms": _ms(percentile(tally.latencies, 50)),
        "p99_ms": _ms(percentile(tally.latencies, 99)),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "cpu_s": cpu,
        "cpu_fraction": cpu / (end - measure_from) if end > measure_from else None,
        "connections": job.connections,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


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
    watchers = await asyncio.gather(*(connect(job) for _ in range(job.watchers)))
    writer = await connect(job)
    observer = await connect(job)
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
        "p50_ms": _ms(percentile(samples, 50)),
        "p99_ms": _ms(percentile(samples, 99)),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "cpu_s": cpu,
        "cpu_fraction": cpu / wall if wall > 0 else None,
    }


async def run(job: Job) -> dict[str, Any]:
    return await (run_load(job) if job.mode == "load" else run_fanout(job))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.loadgen JOB_JSON", file=sys.stderr)
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
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
