"""The embedded backend: the pure store in memory, made durable by group commit.

One committer task owns every change. It takes all writes queued since its last
round, applies them to the store in order, writes the resulting journal to disk in a
single transaction (fsync) on a worker thread, and only then answers the writers and
wakes the watchers. Reads and new watches that arrive while a batch is applied but
not yet durable wait for that commit and are served at the instant it ends, before
the next batch is applied: no client ever sees a write that could still be lost.

If a commit fails (disk full, read-only directory), every write of the batch gets
error 300 (HTTP 500: the request was valid, it may be retried) and the store is
rebuilt from disk, so memory equals disk again; reads go on working, and writes
resume when the disk does. TTL expiry rides the same path:
a timer wakes the committer when the soonest TTL passes.

Where the time goes (pyinstrument and cProfile, 32 clients, this 2-core machine with a
load average of 10 to 16 from other work):
- PUT: with SQLite as the write path the process was idle most of the run (1.1 s of
  CPU in 7 s): throughput is batch size over commit time, and a commit took 4-7 ms.
  The commit log (disk.py) made that 0.7-2 ms. Python per PUT is about 40 us of CPU:
  form parsing, the tree change and asyncio's task and future hand-offs, about a
  quarter each; the fdatasync runs on the worker thread. Measured in-process since
  (main-thread CPU, 16 writes per commit): 39 us per PUT, 30 us of it per write and
  the rest the commit's share (see mixed).
- GET: main-thread CPU per answered request (/proc, 32 clients, load average 7-9):
  29 us when each GET went through a task and the coroutine chain, 16-23 us since
  `read_now` lets the HTTP layer answer a plain GET inside its parse callback
  (Api.answer_now) with its headers rendered once and the key's node reused. Of
  that, about 8 us is Python (parse callbacks, the lookup, rendering the head); the
  rest is the event loop and the recv and send system calls.
- Mixed 90% GET / 10% PUT: main-thread CPU per request 39-46 us before that change,
  30-31 us after. A batch holds 4-5 writes here (16-18 in the PUT phase), and a
  commit costs the loop's thread about 110-170 us beyond its writes' ~30 us each
  (measured in-process, one write per commit vs four vs sixteen): the committer
  task's wake-ups, the hand-off to the disk thread and back, and the context
  switches of the GIL passing to that thread and back. That is paid per few writes,
  so a 10% share of writes costs a quarter of the CPU. Tried and dropped, as no
  difference showed: a bare thread and queue instead of the executor, O_DSYNC
  instead of pwrite plus fdatasync, a shorter GIL switch interval, the fdatasync
  on the loop's thread. Reads of keys the batch in flight did not touch never wait
  for its fdatasync (PendingPaths), so GETs do not queue behind commits.
- One client's PUT latency and the watch fan-out's median are the fdatasync plus
  the wake-ups of the loop and the worker thread; on this loaded machine these cost
  us 1.3-3.6 ms where etcd's own fsync histogram showed 78% under 1 ms. Later, at a
  load average of 12: a one-write commit (append and fdatasync, on the disk thread)
  took 0.86 ms p50, a bare 400-byte append and fdatasync in a loop 0.2-0.6 ms, and
  etcd answered a whole PUT in 0.24 ms p50 at the same moment; fdatasync on the
  loop's thread instead was no faster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from corral.store.disk import CommitError, Disk
from corral.store.errors import RAFT_INTERNAL, EtcdError
from corral.store.event import Event
from corral.store.history import EventHistory
from corral.store.node import NS
from corral.store.pending import PendingPaths
from corral.store.requests import KeysRequest, apply_read, apply_write
from corral.store.store import Clock, Store, clean_path
from corral.store.watchers import Watcher, WatcherHub

log = logging.getLogger(__name__)

T = TypeVar("T")
# A stream watcher that falls this far behind is dropped, as etcd drops it.
STREAM_BUFFER = 100
RELOAD_ATTEMPTS = 20


class EmbeddedWatch:
    """An asyncio view of a hub watcher."""

    def __init__(
        self, hub: WatcherHub, start_index: int, on_close: Callable[[EmbeddedWatch], None]
    ) -> None:
        self.hub = hub
        self.start_index = start_index
        self.on_close = on_close
        self.watcher: Watcher | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        # Set by the HTTP layer to answer a one-event watch where it is notified.
        self.on_event: Callable[[Event], None] | None = None

    def deliver(self, e: Event) -> None:
        if self.on_event is not None:
            self.on_event(e)
        if self._queue.qsize() >= STREAM_BUFFER:
            self.close()
            return
        self._queue.put_nowait(e)

    async def next(self) -> Event | None:
        return await self._queue.get()

    def close(self) -> None:
        self.on_close(self)
        if self.watcher is not None:
            self.hub.remove(self.watcher)
            self.watcher = None
        self._queue.put_nowait(None)


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, data_dir: Path, clock: Clock = time.time_ns) -> None:
        self.disk = Disk(data_dir)
        self.clock = clock
        self.store = Store(clock)
        self.hub = WatcherHub()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="corral-store-disk")
        self._queue: list[tuple[KeysRequest, asyncio.Future[Event]]] = []
        self._wake = asyncio.Event()
        self._in_flight = False
        self._pending: PendingPaths | None = None
        self._durable_index = 0
        self._parked: list[Callable[[], None]] = []
        self._committer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._watches: set[EmbeddedWatch] = set()
        self._ready = False
        self._stopping = False
        self.commits = 0

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._load)
        expired = self.store.expire()
        if expired:
            log.info("%d keys expired while the store was down", len(expired))
        await self._commit_batch([])
        self._committer = asyncio.create_task(self._run(), name="corral-store-committer")
        self._ready = True
        log.info("store loaded: %d nodes, index %d", len(self.store.nodes) - 1, self.store.index)

    def _load(self) -> None:
        self.disk.open()
        self._rebuild()

    def _rebuild(self) -> None:
        """The tree and the event history from what the disk holds as durable."""
        store = Store(self.clock)
        store.load(self.disk.rows(), self.disk.index())
        store.replay(self.disk.changes())
        self._durable_index = store.index
        history = EventHistory()
        for e in self.disk.history():
            history.add(e)
        self.store = store
        self.hub.history = history

    async def stop(self) -> None:
        self._stopping = True
        self._ready = False
        if self._committer is not None:
            self._wake.set()
            await self._committer
        if self._timer is not None:
            self._timer.cancel()
        for w in list(self._watches):
            w.close()
        await asyncio.get_running_loop().run_in_executor(self._pool, self.disk.close)
        self._pool.shutdown()

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def index(self) -> int:
        """The index of the last durable write (never that of a batch still committing)."""
        return self._durable_index

    @property
    def committing(self) -> bool:
        """A batch is applied in memory and not yet durable."""
        return self._in_flight

    def store_stats(self) -> dict[str, Any]:
        return {**self.store.stats, "watchers": self.hub.count}

    # -- requests --------------------------------------------------------------------

    async def write(self, request: KeysRequest) -> Event:
        if self._stopping:
            raise EtcdError(RAFT_INTERNAL, "server is stopping", self.store.index)
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._queue.append((request, fut))
        self._wake.set()
        return await fut

    async def read(self, request: KeysRequest) -> Event:
        e = self.read_now(request)
        if e is not None:
            return e
        return await self._when_durable(lambda: apply_read(self.store, request))

    def read_now(self, request: KeysRequest) -> Event | None:
        """The read answered at once, or None when it could see the batch in flight
        and must wait for its commit. Raises EtcdError as `read` does."""
        pending = self._pending
        if pending is None:
            return apply_read(self.store, request)
        if not pending.affects(clean_path(request.path)):
            return self._read_durable(request)
        return None

    def _read_durable(self, request: KeysRequest) -> Event:
        """A read the batch in flight cannot affect: what it sees is durable; only the
        index must be the durable one."""
        try:
            e = apply_read(self.store, request)
        except EtcdError as exc:
            exc.index = self._durable_index
            raise
        e.etcd_index = self._durable_index
        return e

    async def watch(self, request: KeysRequest) -> tuple[EmbeddedWatch | None, Event | None]:
        return await self._when_durable(lambda: self._register(request))

    def _register(self, r: KeysRequest) -> tuple[EmbeddedWatch | None, Event | None]:
        index = self.store.index
        w = EmbeddedWatch(self.hub, index, self._watches.discard)
        since = r.wait_index or index + 1
        watcher, found = self.hub.watch(
            clean_path(r.path), r.recursive, r.stream, since, index, w.deliver
        )
        if found is not None:
            return None, found
        w.watcher = watcher
        self._watches.add(w)
        return w, None

    async def _when_durable(self, action: Callable[[], T]) -> T:
        """Run `action` on the store now if it holds no undurable write, else at the
        end of the commit in flight (before the next batch is applied)."""
        if not self._in_flight:
            return action()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def run() -> None:
            if fut.done():
                return
            try:
                fut.set_result(action())
            except Exception as exc:
                fut.set_exception(exc)

        self._parked.append(run)
        return await fut

    # -- the committer ---------------------------------------------------------------

    async def _run(self) -> None:
        while not (self._stopping and not self._queue):
            self._arm_timer()  # also for TTLs loaded from disk, before any write
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch or self._due():
                await self._commit_batch(batch)

    def _due(self) -> bool:
        t = self.store.next_expiry()
        return t is not None and t <= self.clock()

    def _arm_timer(self) -> None:
        t = self.store.next_expiry()
        if t == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = t
        if t is not None:
            delay = max(0.0, (t - self.clock()) / NS)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._wake.set()

    async def _commit_batch(self, batch: list[tuple[KeysRequest, asyncio.Future[Event]]]) -> None:
        store = self.store
        results: list[Event | EtcdError] = []
        for request, _ in batch:
            try:
                results.append(apply_write(store, request))
            except EtcdError as exc:
                results.append(exc)
        store.expire()
        journal = store.take_journal()
        events = store.take_events()
        if not journal and not events:
            self._answer(batch, results)
            return
        self._in_flight = True
        self._pending = PendingPaths(journal)
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._pool, self.disk.commit, journal, events, store.index
            )
        except CommitError as exc:
            log.error("commit of %d writes failed, reloading from disk: %s", len(batch), exc)
            await self._recover()
            failure = EtcdError(RAFT_INTERNAL, f"write not durable: {exc}", self.store.index)
            results = [failure] * len(batch)
        else:
            self.commits += 1
            for e in events:
                if e.refresh:
                    self.hub.add(e)
                else:
                    self.hub.notify(e)
        finally:
            self._in_flight = False
            self._pending = None
            self._durable_index = self.store.index
            parked, self._parked = self._parked, []
            for run in parked:
                run()
        self._answer(batch, results)

    def _answer(
        self,
        batch: list[tuple[KeysRequest, asyncio.Future[Event]]],
        results: list[Event | EtcdError],
    ) -> None:
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, EtcdError):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def _recover(self) -> None:
        """Make memory equal disk again after a failed commit.

        A failed commit leaves the disk's open files and what it remembers of them as
        they were, so the tree is rebuilt from those first: a read-only directory could
        not be reopened for writing (the store would have to stop serving reads), and
        re-reading the log could bring back a record whose fdatasync failed. Reopening
        is the fallback when that rebuild fails."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._rebuild)
            return
        except Exception as exc:
            log.error("rebuilding the store from its open files failed, reopening: %s", exc)
        self.disk.close()
        for _ in range(RELOAD_ATTEMPTS):
            try:
                await loop.run_in_executor(self._pool, self._load)
                return
            except Exception as exc:  # the disk may be unreadable for a moment
                log.error("reloading the store failed, retrying: %s", exc)
                await asyncio.sleep(0.5)
        # Memory can no longer be trusted to equal disk: serving on would be lying.
        log.critical("cannot reload the store from %s: shutting down", self.disk.path)
        os.kill(os.getpid(), signal.SIGTERM)
