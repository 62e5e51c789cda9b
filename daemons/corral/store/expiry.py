"""The expiry heap: nodes with a TTL, soonest first.

Entries are never updated in place: a refreshed or removed node leaves a stale entry
that `due` skips (the node's `expire_ns` no longer matches, or it left the tree). The
heap is rebuilt when stale entries outnumber live ones, so memory stays bounded.
"""

from __future__ import annotations

import heapq
import itertools

from corral.store.node import Node


def _live(n: Node, expire_ns: int) -> bool:
    return n.parent is not None and n.expire_ns == expire_ns


class ExpiryHeap:
    """The nodes with a TTL, soonest expiry first."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Node]] = []
        self._seq = itertools.count()
        self._limit = 1024

    def push(self, n: Node) -> None:
        heapq.heappush(self._heap, (n.expire_ns, next(self._seq), n))
        if len(self._heap) > self._limit:
            # Amortised O(1): the limit doubles with what survives compaction.
            self._heap = [e for e in self._heap if _live(e[2], e[0])]
            heapq.heapify(self._heap)
            self._limit = max(1024, 2 * len(self._heap))

    def next_expiry(self) -> int | None:
        """When the soonest live node expires (ns), or None."""
        while self._heap:
            t, _, n = self._heap[0]
            if _live(n, t):
                return t
            heapq.heappop(self._heap)
        return None

    def pop_due(self, now_ns: int) -> Node | None:
        """The soonest live node expired at `now_ns`, removed from the heap."""
        t = self.next_expiry()
        if t is None or t > now_ns:
            return None
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)
