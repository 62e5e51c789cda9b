"""The last N events (etcd keeps 1000), scanned by watches with a waitIndex.

Every index the store takes produces exactly one event, so the history holds
consecutive indexes and an index maps to a position by subtraction. A waitIndex older
than the oldest kept event is refused with error 401. An event of a private key (the
auth record) is kept only as a `Withheld` placeholder: its index, nothing else, and
no watch matches it, so no watcher is ever given it, live or from the history.
"""

from __future__ import annotations

from collections import deque

from corral.etcd_errors import EventIndexCleared
from corral.store.event import Event
from corral.store.private import is_private

HISTORY_SIZE = 1000


class Withheld(Event):
    """Where a private key's event was: an index taken, nothing to show. Marked as a
    refresh, the kind of event that no watch matches and no watcher is woken by."""

    __slots__ = ()

    def __init__(self, index: int) -> None:
        super().__init__("", {"modifiedIndex": index}, None, 0, refresh=True)


def matches(e: Event, key: str, recursive: bool) -> bool:
    """Whether a watch on `key` sees event `e` (etcd's EventHistory.scan rule)."""
    if e.refresh:
        return False
    ekey = e.key
    if ekey == key:
        return True
    if recursive:
        prefix = key if key.endswith("/") else key + "/"
        if ekey.startswith(prefix):
            return True
    # A removed directory takes everything below it, watched or not yet created.
    return e.removes_dir and key.startswith(e.prev_node["key"])  # type: ignore[index]


class EventHistory:
    """The last events, for watches that start at an earlier index (waitIndex)."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self.events: deque[Event] = deque(maxlen=size)

    @property
    def start_index(self) -> int:
        return self.events[0].index if self.events else 0

    @property
    def last_index(self) -> int:
        return self.events[-1].index if self.events else 0

    def add(self, e: Event) -> bool:
        """Record `e`; False if it was withheld (a private key's): then it must not be
        delivered either."""
        if is_private(e.key):
            self.events.append(Withheld(e.index))
            return False
        self.events.append(e)
        return True

    def scan(self, key: str, recursive: bool, index: int) -> Event | None:
        """The first event at or after `index` that a watch on `key` sees."""
        start = self.start_index
        if index < start:
            raise EventIndexCleared(
                f"the requested history has been cleared [{start}/{index}]",
                0,
            )
        if index > self.last_index:
            return None
        for i in range(index - start, len(self.events)):
            e = self.events[i]
            if matches(e, key, recursive):
                return e
        return None
