"""A gateway's group commit: planned writes, sent to etcd in batches (`batch`).

One batch is in flight at a time: a batch's indexes count from the op record before
it, which the batch in flight is about to change. Writes planned meanwhile queue, and
go together in the next batch, so under load each call carries many writes (as the
embedded store's group commit makes one fsync for many), and a lone write goes at
once. A batch that finds another gateway's op record newer than it was made on is
made again on that record (its writes' own compares are unaffected).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from corral.etcd_errors import RaftInternal
from corral.store.etcdv3.batch import Pending, applied, body, op_state, pending, take
from corral.store.etcdv3.client import Ambiguous, EtcdRefused, Gateway
from corral.store.etcdv3.plan import Plan
from corral.store.etcdv3.replica import Replica
from corral.store.etcdv3.sizes import MAX_BATCH

log = logging.getLogger(__name__)

# etcd's refusal of a transaction whose put names a lease that no longer exists
LEASE_GONE = "requested lease not found"
MAX_OP_RACES = 100  # times a batch is made again after another gateway's batch


class BatchAmbiguous(Exception):
    """The batch was sent but its outcome is unknown; it could only apply while no
    op record was newer than revision `since`."""

    def __init__(self, cause: str, since: int) -> None:
        super().__init__(cause)
        self.since = since


class Committer:
    """Sends a gateway's planned writes to etcd, batched, one batch at a time."""

    def __init__(self, gateway: Gateway, replica: Replica) -> None:
        self.gateway = gateway
        self.replica = replica  # its op record, when another gateway wrote the newest
        self.max_writes = MAX_BATCH  # per batch: at most etcd's --max-txn-ops
        self.op_revision = 0  # the newest op record known, and its index delta
        self.offset = 0
        self._queue: list[tuple[Pending, asyncio.Future[tuple[int, int] | None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def commit(self, plan: Plan, write_id: str, lease: int) -> tuple[int, int] | None:
        """(revision, index) of the write once applied; None if its compares failed.
        Raises BatchAmbiguous, EtcdUnavailable, EtcdRefused."""
        fut: asyncio.Future[tuple[int, int] | None] = asyncio.get_running_loop().create_future()
        self._queue.append((pending(plan, write_id, lease), fut))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        try:
            while self._queue:
                n = take(
                    [w for w, _ in self._queue], self.gateway.max_request_bytes, self.max_writes
                )
                batch, self._queue = self._queue[:n], self._queue[n:]
                try:
                    await self._send(batch)
                except Exception as exc:  # EtcdUnavailable, EtcdRefused, or a bug
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
        finally:
            self._task = None

    def _learn(self, op_revision: int, offset: int) -> None:
        if op_revision > self.op_revision:
            self.op_revision, self.offset = op_revision, offset

    async def _lease_gone(self, batch: list[tuple[Pending, asyncio.Future[Any]]]) -> None:
        """A lease a write joins (its directory's) expired since it was planned, and etcd
        refused the whole transaction: each write goes alone, and the one whose lease is
        gone is planned again, as if its compares had failed."""
        if len(batch) == 1:
            if not batch[0][1].done():
                batch[0][1].set_result(None)
            return
        for item in batch:
            try:
                await self._send([item])
            except Exception as alone:  # EtcdUnavailable, EtcdRefused, or a bug
                if not item[1].done():
                    item[1].set_exception(alone)

    async def _send(self, batch: list[tuple[Pending, asyncio.Future[Any]]]) -> None:
        writes = [w for w, _ in batch]
        for _ in range(MAX_OP_RACES):
            self._learn(self.replica.op_revision, self.replica.offset)
            since, delta = self.op_revision, self.offset
            try:
                answer = await self.gateway.txn(body(writes, since, delta))
            except Ambiguous as exc:
                raise BatchAmbiguous(str(exc), since) from None
            except EtcdRefused as exc:
                if LEASE_GONE not in str(exc):
                    raise
                await self._lease_gone(batch)
                return
            if not answer.get("succeeded"):  # another gateway's batch came first
                responses = answer.get("responses") or [{}]
                kvs = responses[0].get("response_range", {}).get("kvs") or []
                self._learn(*op_state(kvs))
                continue
            revision = int(answer.get("header", {}).get("revision", 0))
            done = applied(answer, len(writes))
            if any(done):
                last = max(i for i, ok in enumerate(done) if ok)
                self._learn(revision, delta + last)
            for i, (_, fut) in enumerate(batch):
                if not fut.done():
                    fut.set_result((revision, revision + delta + i) if done[i] else None)
            return
        raise RaftInternal("too many conflicting writes, try again")
