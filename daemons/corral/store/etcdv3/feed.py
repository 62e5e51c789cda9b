"""One v3 watch per gateway over all of Corral's keys, turned into v2 events.

Each revision becomes v2 events: one per op record written with it (every v2 write
carries one; a batch of writes, several, in the order of their positions, which is
the order of their indexes), or, for a revision that only deletes keys, an `expire`
event for the topmost key its lease took, at the revision plus the newest write's
index delta (`layout`). Events are fed in index order to the watcher hub
(refreshes only into the history, waking no one). When the stream breaks (a member
died), it is reopened on another member from the revision after the last one
applied, so every event is applied exactly once: no gap, no duplicate.

Revisions are untrusted input (`untrusted`): a revision whose op record is not a
gateway's, or names a key the revision did not change, is applied to the replica but
shown to no watcher, and reported; one that fails in any other way is skipped and
reported too. Either way the feed goes on with the next: one bad record must not
stop every gateway of the fleet.

If etcd compacted revisions the feed had not yet read (it was cut off for a while),
etcd cancels the watch with the compact revision: there is a gap. `on_compacted`
(the backend) then answers waiting watchers with error 401 and rebuilds what the gap
made stale; it returns the revision after which the feed goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from corral.store.etcdv3.client import EtcdUnavailable, Gateway
from corral.store.etcdv3.layout import (
    WATCH_END,
    WATCH_START,
    Op,
    b64,
    decode_kv,
    decode_op,
    is_node_key,
    is_op_key,
    unb64,
    v3_key,
)
from corral.store.etcdv3.replica import Replica, node_kv
from corral.store.etcdv3.untrusted import REPORTS, Malformed
from corral.store.event import EXPIRE, Event
from corral.store.node import index_fields, render

log = logging.getLogger(__name__)

REOPEN_PAUSE = 0.1  # seconds before reopening a lost stream, times the failures in a row
MAX_REOPEN_PAUSE = 1.0  # seconds at most between two attempts while etcd is away
LOG_EVERY_FAILURES = 50  # an outage logs its first lost stream, then one in this many


def op_delta(revision_ops: list[Op], offset: int) -> int:
    """The index delta after a revision with op records `revision_ops`, `offset` the
    delta before it: its last write's index minus the revision. Deltas only grow: a
    record not written by a gateway cannot make two writes share an index."""
    return max([offset, *(op.delta for op in revision_ops)])


def revision_ops(revision: int, events: list[dict[str, Any]]) -> list[Op]:
    """The op records one revision's v3 events put, in order; a malformed one is
    reported and left out."""
    ops = []
    for e in events:
        kv = e.get("kv", {})
        if e.get("type", "PUT") != "PUT" or not is_op_key(unb64(kv.get("key"))):
            continue
        try:
            ops.append(decode_op(unb64(kv.get("value"))))
        except Malformed as exc:
            REPORTS.skipped("op record", f"{exc} (revision {revision}): no event")
    return ops


def revision_events(
    revision: int, events: list[dict[str, Any]], ops: list[Op], offset: int
) -> list[Event]:
    """The v2 events of one revision's v3 events and op records `ops` (none: not
    Corral's); `offset` is the index delta before this revision. An op record that
    does not match its revision is reported and left out."""
    by_key: dict[bytes, dict[str, Any]] = {}
    expired = []
    writes = False  # it put op records (maybe malformed ones): it is no expiry
    for e in events:
        kv = e.get("kv", {})
        key = unb64(kv.get("key"))
        if is_op_key(key):
            writes = writes or e.get("type", "PUT") == "PUT"
            continue
        by_key[key] = e
        if e.get("type") == "DELETE" and is_node_key(key) and e.get("prev_kv"):
            kv = node_kv(e["prev_kv"])
            if kv is not None:
                expired.append(kv)
    if writes:
        out = []
        for op in ops:
            try:
                out.append(_op_event(revision, op, by_key))
            except Malformed as exc:
                REPORTS.skipped("op record", f"{exc} (revision {revision}): no event")
        return out
    if not expired:
        return []
    top = min(expired, key=lambda kv: (kv.path.count("/"), kv.path))
    node: dict[str, Any] = {"key": top.path}
    if top.is_dir:
        node["dir"] = True
    index = revision + offset
    index_fields(index, top.created, node)
    # rendered at the moment it was due, as v2 renders it on its expiry tick
    prev = render(top.node(), False, False, top.expire_ns or 0)
    return [Event(EXPIRE, node, prev, index)]


def revision_event(revision: int, events: list[dict[str, Any]], offset: int = 0) -> Event | None:
    """The one v2 event of a revision of at most one write (tests, tools)."""
    found = revision_events(revision, events, revision_ops(revision, events), offset)
    return found[0] if found else None


def _op_event(revision: int, op: Op, by_key: dict[bytes, dict[str, Any]]) -> Event:
    """The event an op record describes, its values filled in from the key's v3 event."""
    node = dict(op.node)
    prev = dict(op.prev) if op.prev is not None else None
    own = by_key.get(v3_key(node["key"]))
    if own is None:  # every gateway write changes the key it names
        raise Malformed(f"op record names {node['key'][:200]!r}, which its revision left alone")
    if "value" in node and own.get("kv", {}).get("value") is not None:
        node["value"] = decode_kv(own["kv"]).value
    if prev is not None and "value" in prev and own.get("prev_kv"):
        prev["value"] = decode_kv(own["prev_kv"]).value
    index = revision + op.delta
    index_fields(index, op.created or index, node)
    return Event(op.action, node, prev, index, op.refresh)


class Feed:
    """The watch stream from etcd that keeps the replica and the event history current."""

    def __init__(
        self, gateway: Gateway, publish: Callable[[Event], None], start: int,
        replica: Replica | None = None,
        on_compacted: Callable[[int, int], Awaitable[tuple[int, int]]] | None = None,
        offset: int = 0,
    ) -> None:  # fmt: skip
        self.gateway = gateway
        self.publish = publish
        self.replica = replica
        self.on_compacted = on_compacted
        self.last = start - 1  # the last revision applied
        self.offset = offset  # the index delta as of `last` (see layout)
        self.compacted_to = 0  # the first index after the newest gap
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._stream: asyncio.Future[None] | None = None
        self._heard = False  # the current stream has answered

    @property
    def index(self) -> int:
        """The v2 index of the last revision applied."""
        return self.last + self.offset

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="corral-store-etcd-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Until every revision up to `revision` is applied (bounded)."""
        try:
            async with asyncio.timeout(timeout):
                async with self._advanced:
                    await self._advanced.wait_for(lambda: self.last >= revision)
        except TimeoutError:
            return False
        return True

    def reopen(self) -> None:
        """Drop the current stream (alive to TCP, but silent) and open another."""
        if self._stream is not None:
            self._stream.cancel()

    async def _run(self) -> None:
        failures = 0  # in a row: the first is logged, then one in LOG_EVERY_FAILURES
        while True:
            self._stream = asyncio.ensure_future(self._follow())
            try:
                await self._stream
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the feed stops
                log.info("reopening the watch stream from revision %d", self.last + 1)
            except EtcdUnavailable as exc:
                if self._heard:  # it had worked: a new outage
                    failures, self._heard = 0, False
                if failures % LOG_EVERY_FAILURES == 0:
                    log.warning(
                        "watch stream lost, reopening from revision %d: %s", self.last + 1, exc
                    )
                failures += 1
                await asyncio.sleep(min(REOPEN_PAUSE * failures, MAX_REOPEN_PAUSE))
                continue
            except Exception:  # a bug here must not end the feed silently
                log.exception("watch feed failed, reopening from revision %d", self.last + 1)
            failures = 0
            await asyncio.sleep(REOPEN_PAUSE)

    async def _follow(self) -> None:
        body = {
            "create_request": {
                "key": b64(WATCH_START),
                "range_end": b64(WATCH_END),
                "start_revision": str(self.last + 1),
                "prev_kv": True,
            }
        }
        async for result in self.gateway.watch(body):
            self._heard = True
            compact = int(result.get("compact_revision", 0) or 0)
            if compact:
                log.error(
                    "events %d..%d were compacted before this gateway read them",
                    self.last + 1, compact - 1,
                )  # fmt: skip
                resume, offset = compact - 1, self.offset
                if self.on_compacted is not None:  # raises EtcdUnavailable: try again
                    resume, offset = await self.on_compacted(compact, offset)
                self.last, self.offset = resume, offset
                self.compacted_to = self.index + 1
                async with self._advanced:
                    self._advanced.notify_all()
                return
            events = result.get("events") or []
            if not events:
                continue
            await self._apply(events)

    async def _apply(self, events: list[dict[str, Any]]) -> None:
        by_revision: dict[int, list[dict[str, Any]]] = {}
        for e in events:
            rev = int(e.get("kv", {}).get("mod_revision", 0))
            by_revision.setdefault(rev, []).append(e)
        for rev in sorted(by_revision):
            if rev <= self.last:
                continue  # already applied (a reopened stream never repeats, but be sure)
            found: list[Event] = []
            ops = revision_ops(rev, by_revision[rev])
            offset = op_delta(ops, self.offset)
            try:
                if self.replica is not None and rev > self.replica.revision:
                    self.replica.apply(rev, by_revision[rev], offset if ops else None)
                found = revision_events(rev, by_revision[rev], ops, self.offset)
            except Exception as exc:  # a bug, or data no check foresaw: this revision only
                log.debug("revision %d", rev, exc_info=True)
                REPORTS.skipped("revision", f"revision {rev} not applied: {exc!r}")
            for event in found:
                self.publish(event)
            self.last, self.offset = rev, offset
        async with self._advanced:
            self._advanced.notify_all()
