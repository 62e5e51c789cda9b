"""The embedded backend: the pure store in memory, made durable by group commit.

Writes queued during one loop iteration are applied to the store together at the
start of the next (`group_commit` decides when a batch may start), and the resulting
journal goes to disk as one commit (one fdatasync): on the loop's own thread while
commits are quick, else on the disk thread, whose completion calls back into the loop.
There the batch's writes are answered and the watchers woken.

Invariants: a write is answered (success or refusal alike, since a refusal may depend
on an undurable write) only once its batch and every batch before it are durable. A
read that could see a batch in flight waits (PendingPaths says which can); reads and
watches that wait are served once nothing is in flight. No client ever sees a write
that could still be lost. If a commit fails (disk full, read-only directory), every
write of the batch gets error 300 (the request was valid, it may be retried), the
batches queued behind it are refused, and once none is in flight the store is rebuilt
from disk; reads go on working, and writes resume when the disk does. TTL expiry rides
the same path: a timer starts a batch when the soonest TTL passes. Measurements:
docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from corral.etcd_errors import EtcdError, RaftInternal
from corral.store import collector, metrics
from corral.store.backend import Figures, Reply
from corral.store.disk import CommitError, Disk
from corral.store.event import Event
from corral.store.group_commit import Advance, CommitBatch, GroupCommit
from corral.store.history import EventHistory
from corral.store.keys_request import KeysRequest, apply_read, apply_write
from corral.store.node import NS
from corral.store.store import Clock, Store, clean_path
from corral.store.watchers import HubWatch, OpenWatches, WatcherHub

log = logging.getLogger(__name__)

T = TypeVar("T")
# Reloads from disk (0.5 s apart) after a failed rebuild, before the server is stopped.
RELOAD_ATTEMPTS = 20


class EmbeddedBackend:
    """One durable node: the pure store in memory, group commit to `Disk`, watches
    answered once their events are durable."""

    name = "embedded"

    def __init__(
        self, data_dir: Path, clock: Clock = time.time_ns,
        on_fatal: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.disk = Disk(data_dir)
        # Called when memory can no longer be made equal to disk: the owner must stop
        # serving (the server shuts down). Until then the backend reports not ready.
        self.on_fatal = on_fatal
        self.clock = clock
        self.store = Store(clock)
        self.hub = WatcherHub()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="corral-store-disk")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.group = GroupCommit()
        self._start_due = False  # a _start_batch is scheduled on the loop
        self._disk_failed = False  # disk thread only: refuse commits after a failure
        self._durable_index = 0
        self._settled: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._watches = OpenWatches(self.hub)
        self._ready = False
        self._stopping = False
        self.commits = 0

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._load)
        expired = self.store.expire()
        if expired:
            log.info("%d keys expired while the store was down", len(expired))
        self._start_batch()  # makes the expiries durable
        await self._until_settled()
        self._arm_timer()  # also for TTLs loaded from disk, before any write
        self._ready = True
        log.info("store loaded: %d nodes, index %d", len(self.store.nodes) - 1, self.store.index)

    def _load(self) -> None:
        self.disk.open()
        self._rebuild()

    def _rebuild(self) -> None:
        """The tree and the event history from what the disk holds as durable."""
        store = Store(self.clock)
        orphans = store.load(self.disk.rows(), self.disk.index())
        if orphans:
            log.warning(
                "left out %d keys under directories deleted before the last fold"
                " (kept in %s by an earlier version)",
                orphans,
                self.disk.path,
            )
        store.replay(self.disk.changes())
        # counts since the process started, as etcd's (a recovery rebuilds the tree)
        store.stats, store.recursive_gets = self.store.stats, self.store.recursive_gets
        self._durable_index = store.index
        history = EventHistory()
        for e in self.disk.history():
            history.add(e)
        self.store = store
        self.hub.history = history
        self._disk_failed = False

    async def stop(self) -> None:
        self._stopping = True
        self._ready = False
        await self._until_settled()
        if self._timer is not None:
            self._timer.cancel()
        self._watches.close_all()
        await asyncio.get_running_loop().run_in_executor(self._pool, self.disk.close)
        self._pool.shutdown()

    async def _until_settled(self) -> None:
        """Until no write is queued, in flight or being recovered from."""
        while True:
            group = self.group
            if group.queued and not group.committing:
                self._start_batch()
            if not (group.queued or group.committing):
                return
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._settled.append(fut)
            await fut

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
        return self.group.committing

    @property
    def pipeline_depth(self) -> int:
        """Batches applied in memory whose commits may be queued on the disk thread at
        once (group_commit.PIPELINE_DEPTH)."""
        return self.group.pipeline_depth

    @pipeline_depth.setter
    def pipeline_depth(self, depth: int) -> None:
        self.group.pipeline_depth = depth

    @property
    def inline_commit_max(self) -> float:
        """Commits on the loop's own thread while they take less (seconds)."""
        return self.group.inline_commit_max

    @inline_commit_max.setter
    def inline_commit_max(self, seconds: float) -> None:
        self.group.inline_commit_max = seconds

    def store_stats(self) -> dict[str, Any]:
        return {**self.store.stats, "watchers": self.hub.count}

    def figures(self) -> Figures:
        store, hub = self.store, self.hub
        return Figures(
            dict(store.stats), store.recursive_gets, hub.requests, hub.count, hub.streams,
            len(store.nodes) - 1, self.disk.log_bytes,
        )  # fmt: skip

    # -- requests --------------------------------------------------------------------

    def submit(self, request: KeysRequest, reply: Reply) -> None:
        """Queue a write; `reply` is called on the loop once it is durable (or failed).
        Raises EtcdError at once when the server is stopping."""
        if self._stopping:
            raise RaftInternal("server is stopping", self.store.index)
        self.group.submit(request, reply)
        if not self._start_due:
            # Next iteration: the writes every connection parsed in this one share it.
            self._start_due = True
            asyncio.get_running_loop().call_soon(self._start_batch)

    async def write(self, request: KeysRequest) -> Event:
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

        def reply(result: Event | EtcdError) -> None:
            if fut.done():
                return
            if isinstance(result, EtcdError):
                fut.set_exception(result)
            else:
                fut.set_result(result)

        self.submit(request, reply)
        return await fut

    async def read(self, request: KeysRequest) -> Event:
        e = self.read_now(request)
        if e is not None:
            return e
        return await self._when_durable(lambda: apply_read(self.store, request))

    def read_now(self, request: KeysRequest) -> Event | None:
        """The read answered at once, or None when it could see a batch in flight
        and must wait for its commit. Raises EtcdError as `read` does."""
        group = self.group
        if not group.in_flight:
            if group.recovering:
                return None
            return apply_read(self.store, request)
        if group.affects(clean_path(request.path)):
            return None
        return self._read_durable(request)

    def _read_durable(self, request: KeysRequest) -> Event:
        """A read no batch in flight can affect: what it sees is durable; only the
        index must be the durable one."""
        try:
            e = apply_read(self.store, request)
        except EtcdError as exc:
            exc.index = self._durable_index
            raise
        e.etcd_index = self._durable_index
        return e

    async def watch(self, request: KeysRequest) -> tuple[HubWatch | None, Event | None]:
        return await self._when_durable(lambda: self._register(request))

    def _register(self, r: KeysRequest) -> tuple[HubWatch | None, Event | None]:
        return self._watches.register(
            clean_path(r.path), r.recursive, r.stream, r.wait_index, self.store.index
        )

    async def _when_durable(self, action: Callable[[], T]) -> T:
        """Run `action` on the store now if it holds no undurable write, else once
        every batch in flight is durable (no new batch starts while one waits)."""
        if not self.committing:
            return action()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def run() -> None:
            if fut.done():
                return
            try:
                fut.set_result(action())
            except Exception as exc:
                fut.set_exception(exc)

        self.group.park(run)
        return await fut

    # -- the committer ---------------------------------------------------------------
    #
    # Callbacks on the loop, no task: `_start_batch` applies the queued writes and hands
    # the batch to the disk thread, whose completion calls `_committed` on the loop,
    # which answers the batch's writes there and then (one loop iteration after the
    # fdatasync) and starts the next batch. Batches complete in the order they were
    # applied (one disk thread); after a failed commit the disk thread refuses the
    # batches queued behind it, as they were applied on top of the failed one.

    def _start_batch(self) -> None:
        self._start_due = False
        group = self.group
        queued = group.ready()
        if queued is None:
            return  # started again when the batch ahead completes
        store = self.store
        if not queued and not self._due() and not store.journal and not store.events:
            self._arm_timer()
            return
        replies: list[Reply] = []
        results: list[Event | EtcdError] = []
        for request, reply in queued:
            replies.append(reply)
            try:
                results.append(apply_write(store, request))
            except EtcdError as exc:
                results.append(exc)
        store.expire()
        journal, events = store.take_journal(), store.take_events()
        batch = CommitBatch(replies, results, journal, events, store.index)
        if not batch.changes_anything and not group.in_flight:
            self._answer(batch)  # nothing new to make durable, nothing undurable seen
            self._arm_timer()
            return
        inline = group.applied(batch)
        self._arm_timer()
        if inline:  # without the two thread hand-offs (see INLINE_COMMIT_MAX)
            self._write_batch(batch, inline=True)
        else:
            self._pool.submit(self._write_batch, batch)

    def _write_batch(self, batch: CommitBatch, inline: bool = False) -> None:
        """Make the batch durable, then hand it back to the loop: on the disk thread, or
        on the loop's own (`inline`) when nothing else is in flight."""
        error: CommitError | None = None
        if self._disk_failed:
            error = CommitError("a write before it could not be made durable")
        elif batch.changes_anything:
            started = time.perf_counter()
            try:
                self.disk.commit(batch.journal, batch.events, batch.index)
            except CommitError as exc:
                error = exc
            except Exception as exc:  # never leave the batch unanswered
                error = CommitError(f"{type(exc).__name__}: {exc}")
            if error is not None:
                self._disk_failed = True
            self.group.took(time.perf_counter() - started)
        if inline:
            self._committed(batch, error)
            return
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to answer
            self._loop.call_soon_threadsafe(self._committed, batch, error)

    def _committed(self, batch: CommitBatch, error: CommitError | None) -> None:
        advance = self.group.committed(batch, error is None)
        if error is None:
            if batch.changes_anything:
                self.commits += 1
                metrics.COMMIT_BATCH.observe(len(batch.replies))
            self._durable_index = batch.index
            for e in batch.events:
                if e.refresh:
                    self.hub.add(e)
                else:
                    self.hub.notify(e)
            self._answer(batch)
        else:
            log.error("commit of %d writes failed: %s", len(batch.replies), error)
            failure = RaftInternal(f"write not durable: {error}", self._durable_index)
            batch.results = [failure] * len(batch.replies)
            self._answer(batch)
        if advance is Advance.START_NEXT:
            self._start_batch()
        elif advance is Advance.RECOVER:
            asyncio.get_running_loop().create_task(self._recover_then_resume())
        elif advance is Advance.RESUME:
            self._durable_index = self.store.index
            self._resume()

    def _resume(self) -> None:
        """Nothing is in flight: serve the parked reads and watches on durable state,
        then start the next batch."""
        for run in self.group.take_parked():
            run()
        self._start_batch()
        if not self.group.in_flight and not self.group.queued:
            settled, self._settled = self._settled, []
            for fut in settled:
                if not fut.done():
                    fut.set_result(None)

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
        if t is not None and self._loop is not None:
            delay = max(0.0, (t - self.clock()) / NS)
            self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if not self._start_due:
            self._start_due = True
            asyncio.get_running_loop().call_soon(self._start_batch)

    def _answer(self, batch: CommitBatch) -> None:
        for reply, result in zip(batch.replies, batch.results, strict=True):
            try:
                reply(result)
            except Exception:  # one connection's failure must not cost the others
                log.exception("answering a write failed")

    async def _recover_then_resume(self) -> None:
        try:
            await self._recover()
        finally:
            self.group.recovered()
            self._durable_index = self.store.index
            self._resume()

    async def _recover(self) -> None:
        """Make memory equal disk again after a failed commit.

        A failed commit leaves the disk's open files and what it remembers of them as
        they were, so the tree is rebuilt from those first: a read-only directory could
        not be reopened for writing (the store would have to stop serving reads), and
        re-reading the log could bring back a record whose fdatasync failed. Reopening
        is the fallback when that rebuild fails."""
        loop = asyncio.get_running_loop()
        try:
            with collector.paused():
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
        self._ready = False
        self.on_fatal()
