"""The last 1000 v2 events of a gateway, for watches with a waitIndex.

Unlike the embedded store's history, indexes here need not be consecutive: revisions
taken by other users of the etcd cluster (keys outside Corral's prefix) make no v2
event. A waitIndex older than the oldest kept event is refused with error 401, as
etcd's 1000-event window refuses it. A watcher already waiting when the gateway
learns that etcd compacted events it had not read gets the same error as its answer
(`cleared_notice`): told, it re-reads and watches again, instead of missing events.
"""

from __future__ import annotations

from corral.etcd_errors import EtcdError, EventIndexCleared
from corral.store.event import Event
from corral.store.history import HISTORY_SIZE, EventHistory, matches


def cleared(start: int, wanted: int, index: int) -> EtcdError:
    """etcd v2's error for a `waitIndex` (`wanted`) below the oldest index kept."""
    cause = f"the requested history has been cleared [{start}/{wanted}]"
    return EventIndexCleared(cause, index)


class ClearedNotice(Event):
    """What a waiting watcher gets instead of the events compacted away: its answer's
    body is error 401 (the status line, 200, was sent when the watch began)."""

    __slots__ = ()

    def __init__(self, error: EtcdError) -> None:
        super().__init__("", {}, None, error.index)
        self.preset_body(error.to_json())


class SparseHistory(EventHistory):
    """The gateway's event history: v2 events at etcd revisions, which have gaps."""

    def __init__(self, size: int = HISTORY_SIZE, floor: int = 0) -> None:
        super().__init__(size)
        # Before the first kept event, the oldest index this gateway can still serve.
        self.floor = floor

    @property
    def start_index(self) -> int:
        return self.events[0].index if self.events else self.floor

    def scan(self, key: str, recursive: bool, index: int) -> Event | None:
        start = self.start_index
        if index < start:
            raise cleared(start, index, 0)
        if index > self.last_index:
            return None
        for e in self.events:
            if e.index >= index and matches(e, key, recursive):
                return e
        return None
