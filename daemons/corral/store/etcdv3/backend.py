"""The `etcd` keys backend: corral-store as a stateless v2 gateway over etcd v3.

Every GET is served from the gateway's replica (`replica`), kept by its watch feed.
A plain GET is answered at once, with etcd v2's own guarantee for a member's plain
GET: never older than any write this gateway has answered or shown (read-your-writes,
monotonic), and a write through another gateway appears within the feed's lag (ms).
A `quorum=true` GET is linearizable: one small etcd read (shared by every quorum GET
waiting at that moment) tells the newest v2 write's revision, and the GET waits until
the feed has applied it. Every write is planned (`plan`) on the replica, then
committed as a transaction guarded by compares, nested in the batch of the writes
planned meanwhile (`committer`); a conflict, or a refusal planned on a replica that
may be stale, reads etcd itself and plans again. A transaction whose outcome is
unknown (the member died mid-request) is resolved by reading back the op records'
history for its write id; it is re-planned only once known not to
have applied, and the compares make two attempts of one write mutually exclusive.
etcd's unavailability is error 300. Staleness is bounded: once a second etcd is
asked for its newest v2 write (one small read, shared with quorum GETs), and once the
feed has applied it the replica is known fresh as of the moment of asking
(`staleness`); a gateway cut off from etcd for longer than `max_staleness` answers
plain GETs and new watches with error 300 until it hears from etcd again, and a feed
stuck behind the newest write (its stream silently dead) is reopened. When the watch
feed finds that etcd compacted revisions it had not read, every watcher that would
miss them is answered with error 401, and the replica, if it missed writes, is read
afresh from etcd.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from corral.etcd_errors import CommandFailed, EtcdError, RaftInternal
from corral.formats import FormatError
from corral.store.backend import Figures, Reply
from corral.store.etcdv3.batch import op_state
from corral.store.etcdv3.client import EtcdRefused, EtcdUnavailable, Gateway
from corral.store.etcdv3.committer import BatchAmbiguous, Committer
from corral.store.etcdv3.feed import Feed
from corral.store.etcdv3.format import FORMAT, check_format
from corral.store.etcdv3.layout import (
    FORMAT_KEY,
    OP_END,
    OP_KEY,
    WATCH_START,
    Kv,
    Op,
    ancestors,
    b64,
    build_tree,
    decode_op,
    prefix_end,
    unb64,
    v3_key,
    v3_prefix,
)
from corral.store.etcdv3.plan import Plan, Planner, View, plan_write, read_set
from corral.store.etcdv3.replica import Replica, node_kv
from corral.store.etcdv3.sparse_history import ClearedNotice, SparseHistory, cleared
from corral.store.etcdv3.staleness import MAX_STALENESS, Freshness
from corral.store.etcdv3.untrusted import REPORTS, Malformed
from corral.store.event import EXPIRE, Event
from corral.store.history import HISTORY_SIZE
from corral.store.keys_request import KeysRequest, write_action
from corral.store.metrics import (
    ETCD_REPLICA_LAG,
    ETCD_REPLICA_STALENESS,
    ETCD_STALE_READS_REFUSED,
    ETCD_TXN_RETRIES,
)
from corral.store.node import index_fields, render_get
from corral.store.private import is_private
from corral.store.store import STAT_NAMES, WRITE_STATS, Clock, clean_path
from corral.store.watchers import HubWatch, OpenWatches, WatcherHub

log = logging.getLogger(__name__)

MAX_CONFLICTS = 200  # plans retried after a conflicting write, before giving up
CATCH_UP = 10.0  # seconds the feed may take to reach the newest write at start
FEED_LAG = 2.0  # seconds a GET waits for the feed before asking etcd itself
HEARTBEAT_EVERY = 1.0  # seconds between two reads of the newest write's revision


def _range(key: bytes, end: bytes = b"", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), **extra}
    if end:
        body["range_end"] = b64(end)
    return {"request_range": body}


def _kvs(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response.get("response_range", {}).get("kvs") or []


def _first(response: dict[str, Any]) -> Kv | None:
    kvs = _kvs(response)
    return node_kv(kvs[0]) if kvs else None


def _ops_range(**extra: Any) -> dict[str, Any]:
    return _range(OP_KEY, OP_END, **extra)


def _newest(kvs: list[dict[str, Any]]) -> int:
    return max((int(kv.get("mod_revision", 0)) for kv in kvs), default=0)


def _op(kv: dict[str, Any]) -> Op | None:
    """Op record `kv`; None for one that is not a gateway's."""
    try:
        return decode_op(unb64(kv.get("value")))
    except Malformed as exc:
        REPORTS.skipped("op record", f"{exc} (revision {kv.get('mod_revision')}): not a write")
        return None


class EtcdBackend:
    """The keys backend over an etcd v3 cluster (corral-store as a stateless gateway)."""

    name = "etcd"

    def __init__(
        self, endpoints: list[str], clock: Clock = time.time_ns,
        max_staleness: float = MAX_STALENESS,
    ) -> None:  # fmt: skip
        self.gateway = Gateway(endpoints)
        self.freshness = Freshness(max_staleness)
        self._stale_since: float | None = None  # when reads were first refused (logged)
        self.clock = clock
        self.hub = WatcherHub(SparseHistory())
        self.feed: Feed | None = None
        self.replica = Replica()
        self.committer = Committer(self.gateway, self.replica)
        self._probe_waiters: list[asyncio.Future[tuple[int, int]]] = []
        self._probing = False
        self._watches = OpenWatches(self.hub)
        self._index = 0  # the newest v2 index answered or read
        # The newest v2 write this gateway has answered or shown in a read: no later
        # plain GET or watch may be older.
        self._shown = 0
        self._newest_write = 0  # the newest v2 write's revision etcd was last known to hold
        # etcd's v2 store stats, as this gateway saw its reads, writes and expiries
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.recursive_gets = 0
        self._ready = False
        self._background: set[asyncio.Task[Any]] = set()
        self._writes: set[asyncio.Task[Event]] = set()  # submitted, not yet answered

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Raises EtcdUnavailable if no member answers."""
        await self.gateway.start()
        asked_at = time.monotonic()
        try:
            await self._check_format()
            now, newest_write = await self._load_replica()
            start, offset = await self._history_start(now)
        except (EtcdUnavailable, EtcdRefused) as exc:
            await self.gateway.close()
            raise EtcdUnavailable(f"cannot load Corral's keys from etcd: {exc}") from None
        except FormatError:
            await self.gateway.close()
            raise
        self.hub.history = SparseHistory(floor=start + offset)
        self.feed = Feed(self.gateway, self._publish, start, self.replica, self._compacted, offset)
        self.feed.start()
        if await self.feed.wait_for(newest_write, CATCH_UP):
            self.freshness.confirm(asked_at)
        else:
            log.warning("watch history not yet caught up with revision %d", newest_write)
        ETCD_REPLICA_STALENESS.set_function(self.staleness)
        ETCD_REPLICA_LAG.set_function(self.lag)
        self._in_background(self._heartbeat())
        self._ready = True
        log.info("etcd backend on %s at revision %d", ",".join(self.gateway.endpoints), now)

    async def _check_format(self) -> None:
        """Record this code's data format in etcd if none is (format 1's data reads as
        format 2's, see `layout`); refuse a format it does not know (FormatError)."""
        put = {"request_put": {"key": b64(FORMAT_KEY), "value": b64(str(FORMAT).encode())}}
        absent = {"key": b64(FORMAT_KEY), "target": "CREATE", "result": "EQUAL",
                  "create_revision": "0"}  # fmt: skip
        answer = await self.gateway.txn(
            {"compare": [absent], "success": [put], "failure": [_range(FORMAT_KEY)]},
            idempotent=True,  # sent twice, the second finds the first's marker
        )
        if answer.get("succeeded"):
            log.info("recorded data format %d in etcd", FORMAT)
            return
        kvs = _kvs((answer.get("responses") or [{}])[0])
        check_format(unb64(kvs[0].get("value")) if kvs else b"", ",".join(self.gateway.endpoints))

    async def _load_replica(self) -> tuple[int, int]:
        """Every Corral key into the replica, read at one revision; (that revision,
        the newest v2 write's)."""
        snapshot = {"success": [_range(WATCH_START, prefix_end(WATCH_START)), _ops_range()]}
        answer = await self.gateway.txn(snapshot, idempotent=True)
        now = self._seen(answer)
        responses = answer.get("responses") or [{}, {}]
        newest_write, offset = op_state(_kvs(responses[1]))
        nodes = [n for n in map(node_kv, _kvs(responses[0])) if n is not None]
        self.replica.load(nodes, now, newest_write, offset)
        self._index = max(self._index, self.replica.index)
        return now, newest_write

    async def _history_start(self, now: int) -> tuple[int, int]:
        """The revision from which the feed replays the last events (up to 1000
        revisions back), and the index delta before it; after `now` if etcd
        compacted them."""
        start = max(1, now - HISTORY_SIZE + 1)
        if start == 1:
            return start, 0
        try:
            answer = await self.gateway.range(
                {"key": b64(OP_KEY), "range_end": b64(OP_END), "revision": str(start - 1)}
            )
        except EtcdRefused:  # compacted: no history before now
            return now + 1, self.replica.offset
        return start, op_state(answer.get("kvs") or [])[1]

    async def _compacted(self, compact: int, offset: int) -> tuple[int, int]:
        """The feed cannot read revisions before `compact` (etcd compacted them): the
        revision after which it goes on, and the index delta there (`offset`: the
        feed's). A replica that missed writes is read afresh; the history restarts
        after the gap; every watcher that waits for an index in it is answered with
        error 401, so its client re-reads and watches again."""
        resume = compact - 1
        if resume > self.replica.revision:
            resume, _ = await self._load_replica()  # EtcdUnavailable: the feed retries
            offset = self.replica.offset
        floor = resume + offset + 1
        self.hub.history = SparseHistory(floor=floor)
        for w in self._watches:
            if w.watcher is not None and w.watcher.since < floor:
                w.deliver(ClearedNotice(cleared(floor, w.watcher.since, floor - 1)))
                w.close()
        return resume, offset

    async def stop(self) -> None:
        self._ready = False
        self._watches.close_all()
        if self.feed is not None:
            await self.feed.stop()
        for task in list(self._background):
            task.cancel()
        await self.gateway.close()

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def index(self) -> int:
        """The store's v2 index: the newest this gateway answered, read or applied."""
        return max(self._index, self.feed.index if self.feed is not None else 0)

    def store_stats(self) -> dict[str, Any]:
        return {**self.stats, "watchers": self.hub.count}

    def figures(self) -> Figures:
        hub = self.hub
        return Figures(
            dict(self.stats), self.recursive_gets, hub.requests, hub.count, hub.streams,
            len(self.replica.kvs),
        )  # fmt: skip

    def lag(self) -> int:
        """Revisions from the replica's last applied one to the newest v2 write etcd
        is known to hold (0 once caught up)."""
        applied = self.feed.last if self.feed is not None else 0
        return max(0, max(self._newest_write, self._shown) - applied)

    def _seen(self, answer: dict[str, Any]) -> int:
        """The revision `answer` was read at."""
        return int(answer.get("header", {}).get("revision", 0))

    def _publish(self, e: Event) -> None:
        self._index = max(self._index, e.index)
        if e.action == EXPIRE:
            self.stats["expireCount"] += 1
        if e.refresh:
            self.hub.add(e)
        else:
            self.hub.notify(e)

    def _unavailable(self, exc: Exception) -> EtcdError:
        return RaftInternal(str(exc), self.index)

    # -- staleness -------------------------------------------------------------------

    def staleness(self) -> float:
        """Seconds since the replica was last known to hold etcd's newest v2 write."""
        return self.freshness.age(time.monotonic())

    def _refuse_if_stale(self) -> None:
        if not self.freshness.stale(time.monotonic()):
            return
        ETCD_STALE_READS_REFUSED.inc()
        age, limit = self.staleness(), self.freshness.limit
        if self._stale_since is None:
            self._stale_since = time.monotonic()
            log.warning("no news from etcd for %.1f s: refusing reads until it answers", age)
        cause = f"cut off from etcd: this gateway's data is {age:.1f} s old (at most {limit:g})"
        raise RaftInternal(cause, self.index)

    def _confirm(self, asked_at: float) -> None:
        self.freshness.confirm(asked_at)
        # an answer to a question asked before the refusals began is no news of etcd
        if self._stale_since is not None and asked_at >= self._stale_since:
            self._stale_since = None
            log.info("etcd answers again: serving reads")

    async def _heartbeat(self) -> None:
        """Keep the replica known fresh: ask etcd for its newest write, wait for the
        feed to apply it; a feed that applies nothing meanwhile is reopened."""
        assert self.feed is not None
        every = min(HEARTBEAT_EVERY, self.freshness.limit / 4)
        slow = False
        while True:
            if not slow:
                await asyncio.sleep(every)
            asked_at = time.monotonic()
            try:
                _, newest_write = await self._probe()
            except (EtcdUnavailable, EtcdRefused) as exc:
                log.debug("heartbeat: %s", exc)
                continue
            # an answer that took long says little about now: ask again at once
            slow = time.monotonic() - asked_at > every
            before = self.feed.last
            if await self.feed.wait_for(newest_write, FEED_LAG):
                self._confirm(asked_at)
            elif self.feed.last == before:  # behind and not moving: not merely busy
                log.warning("watch feed stuck before revision %d: reopening it", newest_write)
                self.feed.reopen()

    # -- reads -----------------------------------------------------------------------

    def read_now(self, request: KeysRequest) -> Event | None:
        """A plain GET answered at once from the replica, or None when it must wait
        (quorum, or the feed is behind a write this gateway answered). Raises
        EtcdError as `read` does."""
        if request.quorum or self.feed is None:
            return None
        freshness = self.freshness  # Freshness.stale inlined: this is every GET's path
        if time.monotonic() - freshness.fresh_at > freshness.limit:
            self._refuse_if_stale()
        if self.feed.last < self._shown:
            return None
        return self._read_replica(request, 0)

    async def read(self, request: KeysRequest) -> Event:
        e = self.read_now(request)
        if e is not None:
            return e
        revision, newest_write = 0, self._shown
        asked_at = time.monotonic()
        if request.quorum:
            try:
                revision, newest_write = await self._probe()
            except (EtcdUnavailable, EtcdRefused) as exc:
                raise self._unavailable(exc) from None
        assert self.feed is not None
        if self.feed.last < newest_write and not await self.feed.wait_for(newest_write, FEED_LAG):
            log.warning("feed behind revision %d: reading etcd itself", newest_write)
            return await self._read_etcd(request)
        if request.quorum:  # etcd named its newest write, and the replica holds it
            self._confirm(asked_at)
        self._shown = max(self._shown, newest_write)
        return self._read_replica(request, revision)

    def _count_get(self, request: KeysRequest, path: str, ok: bool) -> None:
        if is_private(path):  # the auth record, re-read each second: not a client's read
            return
        self.stats["getsSuccess" if ok else "getsFail"] += 1
        self.recursive_gets += request.recursive

    def _read_replica(self, request: KeysRequest, revision: int) -> Event:
        path = clean_path(request.path)
        replica = self.replica
        # revisions after the replica's newest op record are expiries, at its delta
        revision = max(revision, replica.revision)
        target = replica.get(path) if path != "/" else None
        view = View(revision, replica.ancestors_of(path), target, False, 0, replica.offset)
        try:
            Planner(view, 0).lookup(path)  # etcd's error for a missing or blocked path
        except EtcdError:
            self._count_get(request, path, False)
            raise
        self._count_get(request, path, True)
        below = replica.descendants(path, request.recursive)
        return self._get_event(request, path, target, below, view.index)

    def _get_event(
        self, request: KeysRequest, path: str, target: Kv | None, below: list[Kv], index: int
    ) -> Event:
        node = build_tree(target, path, below)
        assert node is not None
        rendered, levels = render_get(node, request.recursive, request.sorted, self.clock())
        return Event.got(rendered, levels, index)

    async def _read_etcd(self, request: KeysRequest) -> Event:
        """A GET answered from etcd alone: one transaction of ranges."""
        path = clean_path(request.path)
        above = ancestors(path)
        ops = [_range(v3_key(a)) for a in above]
        if path != "/":
            ops.append(_range(v3_key(path)))
        prefix = v3_prefix(path)
        ops.append(_range(prefix, prefix_end(prefix)))
        ops.append(_ops_range())
        try:
            answer = await self.gateway.txn({"success": ops}, idempotent=True)
        except (EtcdUnavailable, EtcdRefused) as exc:
            raise self._unavailable(exc) from None
        revision = self._seen(answer)
        responses = answer.get("responses") or []
        newest_write, offset = op_state(_kvs(responses[-1]))
        # shown now: later GETs from the replica wait for it
        self._shown = max(self._shown, newest_write)
        target = _first(responses[len(above)]) if path != "/" else None
        view = View(
            revision, {a: _first(r) for a, r in zip(above, responses, strict=False)}, target,
            False, 0, offset,
        )  # fmt: skip
        try:
            Planner(view, 0).lookup(path)
        except EtcdError:
            self._count_get(request, path, False)
            raise
        self._count_get(request, path, True)
        self._index = max(self._index, view.index)
        below = [n for n in map(node_kv, _kvs(responses[-2])) if n is not None]
        return self._get_event(request, path, target, below, view.index)

    async def _probe(self) -> tuple[int, int]:
        """(etcd's revision, the newest v2 write's revision), read after this call
        began; every caller waiting while one read is in flight shares the next."""
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._probe_waiters.append(fut)
        if not self._probing:
            self._probing = True
            self._in_background(self._probe_rounds())
        return await fut

    async def _probe_rounds(self) -> None:
        try:
            while self._probe_waiters:
                waiters, self._probe_waiters = self._probe_waiters, []
                try:
                    answer = await self.gateway.range(
                        {"key": b64(OP_KEY), "range_end": b64(OP_END), "keys_only": True}
                    )
                except (EtcdUnavailable, EtcdRefused) as exc:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                    continue
                revision = self._seen(answer)
                newest = _newest(answer.get("kvs") or [])
                self._newest_write = max(self._newest_write, newest)
                for w in waiters:
                    if not w.done():
                        w.set_result((revision, newest))
        finally:
            self._probing = False

    # -- writes ----------------------------------------------------------------------

    def submit(self, request: KeysRequest, reply: Reply) -> None:
        """`write` in a task of its own, its outcome handed to `reply`. Not cancelled
        at stop: a write sent to etcd is answered."""
        task = asyncio.get_running_loop().create_task(self.write(request))
        self._writes.add(task)

        def done(t: asyncio.Task[Event]) -> None:
            self._writes.discard(t)
            if t.cancelled():
                reply(RaftInternal("server is stopping", self.index))
                return
            exc = t.exception()
            if exc is None:
                reply(t.result())
            elif isinstance(exc, EtcdError):
                reply(exc)
            else:  # as the API's last line of defence: logged, answered etcd-style
                log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
                reply(RaftInternal(str(exc)))

        task.add_done_callback(done)

    async def write(self, request: KeysRequest) -> Event:
        stat = WRITE_STATS[write_action(request)]
        try:
            e = await self._write(request)
        except (EtcdUnavailable, EtcdRefused) as exc:
            raise self._unavailable(exc) from None
        except CommandFailed:  # the store's own refusals (1xx), as etcd counts
            self.stats[stat + "Fail"] += 1
            raise
        self.stats[stat + "Success"] += 1
        return e

    async def _write(self, request: KeysRequest) -> Event:
        sent: list[tuple[str, int, Plan]] = []  # attempts whose outcome was unknown
        on_replica = True  # the first plan; a conflict or a refusal asks etcd
        for _ in range(MAX_CONFLICTS):
            if on_replica:
                on_replica = False
                try:
                    view = self.replica.view(request)
                    plan = plan_write(request, view, self.clock())
                except EtcdError:
                    continue  # maybe only stale: refuse on what etcd says
            else:
                view = await self._view(request)
                plan = plan_write(request, view, self.clock())
            write_id = secrets.token_hex(8)
            lease = await self.gateway.grant(plan.ttl) if plan.ttl is not None else 0
            try:
                outcome = await self.committer.commit(plan, write_id, lease)
            except BatchAmbiguous as exc:
                log.warning("write %s outcome unknown, reading back: %s", write_id, exc)
                outcome = await self._resolve(write_id, exc.since)
                if outcome is not None:
                    return self._answer(plan, outcome, lease)
                sent.append((write_id, exc.since, plan))
                await self._revoke(lease)
                ETCD_TXN_RETRIES.inc()
                continue
            if outcome is not None:
                return self._answer(plan, outcome, lease)
            await self._revoke(lease)
            for earlier, since, earlier_plan in sent:  # a late arrival of an earlier try?
                outcome = await self._resolve(earlier, since)
                if outcome is not None:
                    return self._answer(earlier_plan, outcome, 0)
            ETCD_TXN_RETRIES.inc()  # its compares failed: a conflicting write
        raise RaftInternal("too many conflicting writes, try again", self.index)

    def _answer(self, plan: Plan, outcome: tuple[int, int], lease: int) -> Event:
        """The event of `plan`, applied at (revision, index) `outcome`."""
        revision, index = outcome
        self._index = max(self._index, index)
        self._shown = max(self._shown, revision)
        if plan.revoke and plan.revoke != lease:
            self._in_background(self._revoke(plan.revoke))
        node = dict(plan.node)
        index_fields(index, plan.created or index, node)
        return Event(plan.action, node, plan.prev, index, plan.refresh)

    async def _revoke(self, lease: int) -> None:
        if lease:
            try:
                await self.gateway.revoke(lease)
            except EtcdUnavailable as exc:  # it expires on its own
                log.warning("lease %x not revoked: %s", lease, exc)

    def _in_background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _view(self, request: KeysRequest) -> View:
        target, above, children = read_set(request)
        ops = [_range(v3_key(a)) for a in above]
        ops.append(_range(v3_key(target)))
        ops.append(_ops_range())
        if children:
            prefix = v3_prefix(target)
            ops.append(_range(prefix, prefix_end(prefix), keys_only=True, limit="1"))
        answer = await self.gateway.txn({"success": ops}, idempotent=True)
        responses = answer.get("responses") or []
        n = len(above)
        op_revision, offset = op_state(_kvs(responses[n + 1]))
        return View(
            revision=self._seen(answer),
            ancestors={a: _first(r) for a, r in zip(above, responses, strict=False)},
            target=_first(responses[n]) if target != "/" else None,
            has_children=bool(children and _kvs(responses[n + 2])),
            op_revision=op_revision,
            offset=offset,
        )

    async def _resolve(self, write_id: str, since: int) -> tuple[int, int] | None:
        """(revision, index) at which write `write_id` applied, or None if it did not;
        its batch could apply only while no op record was newer than `since`. A
        linearizable read first, so the answer cannot change later."""
        answer = await self.gateway.range({"key": b64(OP_KEY), "range_end": b64(OP_END)})
        kvs = answer.get("kvs") or []
        newest = _newest(kvs)
        for kv in kvs:
            op = _op(kv)
            if op is not None and op.write_id == write_id:
                revision = int(kv.get("mod_revision", 0))
                return revision, revision + op.delta
        if newest <= since:
            return None
        body = {
            "create_request": {
                "key": b64(OP_KEY), "range_end": b64(OP_END), "start_revision": str(since + 1)
            }
        }  # fmt: skip
        try:
            async with asyncio.timeout(self.gateway.deadline):
                async for result in self.gateway.watch(body):
                    if int(result.get("compact_revision", 0) or 0):
                        break
                    reached = 0  # a revision's op records come in one result
                    for e in result.get("events") or []:
                        kv = e.get("kv", {})
                        revision = int(kv.get("mod_revision", 0))
                        op = _op(kv) if e.get("type", "PUT") == "PUT" else None
                        if op is not None and op.write_id == write_id:
                            return revision, revision + op.delta
                        reached = max(reached, revision)
                    if reached >= newest:
                        return None
        except (TimeoutError, EtcdUnavailable):
            pass
        raise RaftInternal(f"outcome of write {write_id} unknown: retry", self.index)

    # -- watches ---------------------------------------------------------------------

    async def watch(self, request: KeysRequest) -> tuple[HubWatch | None, Event | None]:
        # As an etcd member registers a watch at the index it has applied: at the
        # feed's position, with no round trip, so a watch sent before a write is never
        # registered after it. A write this gateway has already answered happened
        # before this watch, so the watch waits (bounded) until the feed has applied
        # it: it is neither reported as news nor missing from the index the answer
        # carries (X-Etcd-Index). A write answered by another gateway that this one has
        # not yet applied may still be seen: clients pass waitIndex to be exact.
        assert self.feed is not None
        self._refuse_if_stale()  # it would wait for news that cannot come
        if self.feed.last < self._shown:
            await self.feed.wait_for(self._shown, FEED_LAG)
        index = self.feed.index
        if 0 < request.wait_index < self.feed.compacted_to:
            # etcd compacted those events before this gateway read them: gone, as in v2
            raise cleared(self.feed.compacted_to, request.wait_index, index)
        return self._watches.register(
            clean_path(request.path), request.recursive, request.stream, request.wait_index, index
        )
