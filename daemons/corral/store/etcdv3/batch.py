"""Writes that arrive together, committed as one etcd transaction (pure).

etcd's JSON gateway spends most of a write's CPU translating the call, whatever the
call carries; one call carrying many writes pays it once. Each write is a nested
transaction (etcd >= 3.3) keeping its own compares, so each applies or not on its
own. Nested compares are all evaluated on the state before the transaction, so a
batch holds only writes none of which changes a key another reads (compares) or
changes: any order of them gives the same result, and the order taken (position)
is the order of their indexes. A write that touches what an earlier write of the
batch touches closes the batch, and waits for the next: v2 order is kept. An
in-order key (POST) is named after the index it takes at position 0: it only ever
opens a batch.

Indexes (see `layout`): the write at position P of a batch committed at revision R
has index R + DELTA + P, DELTA being the newest op record's delta when the batch was
made; the batch's own compare (no op record changed since) makes that DELTA right.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from corral.store.etcdv3.layout import OP_END, OP_KEY, b64, decode_op, unb64, v3_key
from corral.store.etcdv3.plan import Plan, Range, op_unchanged_since
from corral.store.etcdv3.sizes import MAX_BATCH
from corral.store.etcdv3.untrusted import Malformed


@dataclass(slots=True)
class Pending:
    """A planned write waiting for its batch."""

    plan: Plan
    write_id: str
    lease: int
    reads: list[Range] = field(default_factory=list)
    changes: list[Range] = field(default_factory=list)
    size: int = 0  # bytes of keys and values it puts, about (see sizes.put_bytes)


ENVELOPE_BYTES = 512  # a generous bound on a put's envelope and op record, per write


def pending(plan: Plan, write_id: str, lease: int) -> Pending:
    size = sum(len(v3_key(p.path)) + len(p.value.encode()) for p in plan.puts)
    reads, changes = plan.footprint()
    return Pending(plan, write_id, lease, reads, changes, size + ENVELOPE_BYTES)


def _overlaps(a: list[Range], b: list[Range]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def take(queue: list[Pending], max_bytes: int, max_writes: int = MAX_BATCH) -> int:
    """How many writes from the head of `queue` make the next batch: at least one,
    then as long as each is disjoint from those before it and the batch stays within
    `max_writes` and `max_bytes` of keys and values."""
    n, size = 1, queue[0].size
    read, changed = list(queue[0].reads), list(queue[0].changes)
    while n < min(len(queue), max_writes):
        w = queue[n]
        if (
            w.plan.name_from_revision  # named after its index at position 0: it goes first
            or size + w.size > max_bytes
            or _overlaps(w.changes, read)
            or _overlaps(w.changes, changed)
            or _overlaps(w.reads, changed)
        ):
            break
        read += w.reads
        changed += w.changes
        size += w.size
        n += 1
    return n


def body(batch: list[Pending], op_revision: int, delta: int) -> dict[str, Any]:
    """The transaction of `batch`, made when the newest op record was at
    `op_revision` with index delta `delta`; if another op record was written since,
    it fails and answers every op record (to make it again)."""
    return {
        "compare": [op_unchanged_since(op_revision)],
        "success": [w.plan.nested(w.write_id, w.lease, i, delta) for i, w in enumerate(batch)],
        "failure": [{"request_range": {"key": b64(OP_KEY), "range_end": b64(OP_END)}}],
    }


def applied(answer: dict[str, Any], n: int) -> list[bool]:
    """Which of the batch's `n` writes applied (its transaction succeeded)."""
    responses = answer.get("responses") or []
    out = [bool(r.get("response_txn", {}).get("succeeded")) for r in responses[:n]]
    return out + [False] * (n - len(out))


def op_state(kvs: list[dict[str, Any]]) -> tuple[int, int]:
    """(revision of the newest, index delta after it) of op records `kvs` (etcd's kv
    objects under [OP_KEY, OP_END)); (0, 0) if there are none. Deltas only grow, so
    the largest any record holds is the newest write's; a record that cannot be read
    (not a gateway's: the feed reports it) counts for the revision, not the delta."""
    newest, delta = 0, 0
    for kv in kvs:
        newest = max(newest, int(kv.get("mod_revision", 0)))
        with contextlib.suppress(Malformed):
            delta = max(delta, decode_op(unb64(kv.get("value"))).delta)
    return newest, delta
