"""Group commit as a state machine driven by explicit calls, no event loop, no disk.

The owner (the embedded backend) asks `ready()` for the writes of the next batch,
applies them to the store, hands the result to `applied()` and writes it to disk;
when the disk is done it reports `committed()`, which says what to do next, as etcd
raft's Ready()/Advance() pair does. Invariants kept here:
- batches complete in the order they were applied (`committed` is called in order);
- no batch starts while `PIPELINE_DEPTH` are in flight, while a failed commit is
  being recovered from, or while a read or watch is parked behind the batch in
  flight (so parked ones cannot starve);
- parked reads and watches run only once nothing is in flight (`Advance.RESUME`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

from corral.etcd_errors import EtcdError
from corral.store.backend import Reply
from corral.store.event import Event
from corral.store.keys_request import KeysRequest
from corral.store.pending import PendingPaths
from corral.store.store import JournalEntry

# 1 by measurement (bench put,latency,mixed in the same windows, load 1.1-2.9): at 2
# batches shrank from 15 to 11 writes per fdatasync and PUT gained nothing clear.
PIPELINE_DEPTH = 1
# A batch is committed on the loop's thread, skipping the two thread hand-offs, while
# commits take less than this (moving average): a slow disk, or batches too big to
# encode in a millisecond, keep every commit on the disk thread (docs/performance.md).
INLINE_COMMIT_MAX = 0.001  # seconds
# Weight of the newest commit in the moving average of a commit's duration: 1/8.
_AVERAGE_OVER = 8


class CommitBatch:
    """Writes applied to the store together and made durable by one disk commit."""

    __slots__ = ("events", "index", "journal", "pending", "replies", "results")

    def __init__(
        self,
        replies: list[Reply],
        results: list[Event | EtcdError],
        journal: list[JournalEntry],
        events: list[Event],
        index: int,
    ) -> None:
        self.replies = replies
        self.results = results
        self.journal = journal
        self.events = events
        self.index = index
        self.pending = PendingPaths(journal)

    @property
    def changes_anything(self) -> bool:
        """Whether the disk has something to make durable for this batch."""
        return bool(self.journal or self.events)


class Advance(enum.Enum):
    """What the owner does after a batch's commit completed."""

    START_NEXT = "start the next batch (others are still in flight)"
    WAIT = "nothing: batches in flight must complete before recovery"
    RECOVER = "rebuild memory from disk, then call recovered()"
    RESUME = "run the parked reads and watches, then start the next batch"


class GroupCommit:
    """Queued writes, batches in flight, parked reads and the recovery flag."""

    def __init__(
        self, pipeline_depth: int = PIPELINE_DEPTH, inline_commit_max: float = INLINE_COMMIT_MAX
    ) -> None:
        self.pipeline_depth = pipeline_depth
        self.inline_commit_max = inline_commit_max
        self.in_flight: deque[CommitBatch] = deque()
        self.recovering = False
        self.commit_seconds = 0.0  # moving average of a disk commit's duration
        self._queue: list[tuple[KeysRequest, Reply]] = []
        self._parked: list[Callable[[], None]] = []

    # -- what the owner asks ---------------------------------------------------------

    @property
    def queued(self) -> bool:
        return bool(self._queue)

    @property
    def committing(self) -> bool:
        """A batch is applied in memory and not yet durable (or being recovered from)."""
        return bool(self.in_flight) or self.recovering

    def affects(self, path: str) -> bool:
        """Whether a read of `path` could see a batch in flight."""
        return any(batch.pending.affects(path) for batch in self.in_flight)

    # -- the calls that drive it -----------------------------------------------------

    def submit(self, request: KeysRequest, reply: Reply) -> None:
        self._queue.append((request, reply))

    def park(self, run: Callable[[], None]) -> None:
        """Run `run` once nothing is in flight; no new batch starts meanwhile."""
        self._parked.append(run)

    def ready(self) -> list[tuple[KeysRequest, Reply]] | None:
        """The queued writes, taken for the next batch (maybe none: expiries alone make
        one), or None when no batch may start now; it is asked again after the
        batch ahead completes."""
        if self.recovering:
            return None
        in_flight = self.in_flight
        if in_flight and (len(in_flight) >= self.pipeline_depth or self._parked):
            return None
        queued, self._queue = self._queue, []
        return queued

    def applied(self, batch: CommitBatch) -> bool:
        """`batch` goes in flight. True: commit it on the owner's own thread (nothing
        else in flight, and commits are quick); False: on the disk thread."""
        self.in_flight.append(batch)
        return len(self.in_flight) == 1 and self.commit_seconds < self.inline_commit_max

    def took(self, seconds: float) -> None:
        """A disk commit took `seconds` (called from whichever thread committed)."""
        self.commit_seconds += (seconds - self.commit_seconds) / _AVERAGE_OVER

    def committed(self, batch: CommitBatch, ok: bool) -> Advance:
        """The oldest batch in flight is durable (`ok`) or failed: what comes next."""
        done = self.in_flight.popleft()
        assert done is batch, "batches complete in the order they were applied"
        if not ok:
            self.recovering = True
        if self.in_flight:
            return Advance.WAIT if self.recovering else Advance.START_NEXT
        return Advance.RECOVER if self.recovering else Advance.RESUME

    def recovered(self) -> None:
        """Memory equals disk again after a failed commit."""
        self.recovering = False

    def take_parked(self) -> list[Callable[[], None]]:
        """The parked reads and watches, to run now that nothing is in flight."""
        parked, self._parked = self._parked, []
        return parked
