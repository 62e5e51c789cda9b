"""The watcher hub: watchers by key, woken by the write that concerns them; and
`HubWatch`, the asyncio view of one that both backends hand to the HTTP layer.

The hub is pure: a watcher is handed events through a callback (`deliver`), which
`HubWatch` turns into a queue for a reader or an immediate answer. No polling:
`notify` visits only the watchers registered on the event's key and its ancestors
(and, for a removed directory, those below it). A non-stream watcher is removed
after its first event.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator

from corral.etcd_errors import EventIndexCleared
from corral.store.event import Event
from corral.store.history import EventHistory

Deliver = Callable[[Event], None]
# A stream watcher that falls this far behind is dropped, as etcd drops it.
STREAM_BUFFER = 100


def _hidden_below(watch_path: str, key: str) -> bool:
    """Whether `key` is hidden when seen from a watch on `watch_path`."""
    if len(watch_path) > len(key):
        return False
    return "/_" in "/" + key[len(watch_path) :].lstrip("/")


class Watcher:
    """One registration on the hub: which key, from which index, whom to hand events."""

    __slots__ = ("deliver", "id", "key", "recursive", "removed", "since", "start_index", "stream")

    def __init__(
        self,
        wid: int,
        key: str,
        recursive: bool,
        stream: bool,
        since: int,
        start_index: int,
        deliver: Deliver,
    ) -> None:
        self.id = wid
        self.key = key
        self.recursive = recursive
        self.stream = stream
        self.since = since
        self.start_index = start_index
        self.deliver = deliver
        self.removed = False


class WatcherHub:
    """The registered watchers by key and the event history they may start from."""

    def __init__(self, history: EventHistory | None = None) -> None:
        self.history = history or EventHistory()
        self.watchers: dict[str, dict[int, Watcher]] = {}
        self.count = 0
        self.streams = 0  # of `count`, stream watchers
        self.requests = 0  # watches asked for, answered from the history or registered
        self._ids = itertools.count(1)

    def watch(
        self,
        key: str,
        recursive: bool,
        stream: bool,
        since: int,
        store_index: int,
        deliver: Deliver,
    ) -> tuple[Watcher | None, Event | None]:
        """Either an event already in the history (no watcher kept), or a registered
        watcher. Raises EventIndexCleared (with the store index) if `since` was cleared."""
        self.requests += 1
        try:
            found = self.history.scan(key, recursive, since)
        except EventIndexCleared as exc:
            exc.index = store_index
            raise
        if found is not None:
            # As etcd: an event from the history answers the watch, even a stream.
            return None, found.with_etcd_index(store_index)
        w = Watcher(next(self._ids), key, recursive, stream, since, store_index, deliver)
        self.watchers.setdefault(key, {})[w.id] = w
        self.count += 1
        self.streams += stream
        return w, None

    def remove(self, w: Watcher) -> None:
        if w.removed:
            return
        w.removed = True
        group = self.watchers.get(w.key)
        if group is not None and group.pop(w.id, None) is not None:
            self.count -= 1
            self.streams -= w.stream
            if not group:
                del self.watchers[w.key]

    def add(self, e: Event) -> None:
        """Record without waking anyone (refresh)."""
        self.history.add(e)

    def notify(self, e: Event) -> None:
        if not self.history.add(e) or not self.watchers:
            return
        if e.removes_dir:
            top = e.key
            below = top + "/"
            for path in [p for p in self.watchers if p == top or p.startswith(below)]:
                self._notify_at(e, path, deleted=True)
        elif e.action in ("delete", "compareAndDelete", "expire"):
            self._notify_at(e, e.key, deleted=True)
        path = "/"
        self._notify_at(e, path, deleted=False)
        for segment in e.key.split("/"):
            if segment:
                path = path.rstrip("/") + "/" + segment
                self._notify_at(e, path, deleted=False)

    def _notify_at(self, e: Event, path: str, deleted: bool) -> None:
        group = self.watchers.get(path)
        if not group:
            return
        original = e.key == path
        if not original and _hidden_below(path, e.key):
            return
        index = e.index
        for w in list(group.values()):
            if (w.recursive or original or deleted) and index >= w.since:
                if not w.stream:
                    self.remove(w)
                w.deliver(e)


class HubWatch:
    """A hub watcher as the HTTP layer sees it (backend.Watch): events queued for a
    reader, or handed at once to the callback set by `call_on_event`."""

    def __init__(
        self, hub: WatcherHub, start_index: int, on_close: Callable[[HubWatch], None]
    ) -> None:
        self.hub = hub
        self.start_index = start_index
        self.on_close = on_close
        self.watcher: Watcher | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._on_event: Deliver | None = None

    def call_on_event(self, callback: Deliver) -> None:
        """Hand each event to `callback` from inside the notifying write, before it is
        queued for `next`."""
        self._on_event = callback

    def deliver(self, e: Event) -> None:
        if self._on_event is not None:
            self._on_event(e)
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


class OpenWatches:
    """A backend's open watches: registered on its hub at a given index, every one
    closed when the backend stops."""

    def __init__(self, hub: WatcherHub) -> None:
        self.hub = hub
        self._open: set[HubWatch] = set()

    def register(
        self, path: str, recursive: bool, stream: bool, wait_index: int, index: int
    ) -> tuple[HubWatch | None, Event | None]:
        """A watch of `path` registered at store index `index`, or at once the event of
        the history that answers it. Raises EventIndexCleared if `wait_index` was cleared."""
        w = HubWatch(self.hub, index, self._open.discard)
        since = wait_index or index + 1
        watcher, found = self.hub.watch(path, recursive, stream, since, index, w.deliver)
        if found is not None:
            return None, found
        w.watcher = watcher
        self._open.add(w)
        return w, None

    def __iter__(self) -> Iterator[HubWatch]:
        """A copy: closing a watch while iterating is allowed."""
        return iter(list(self._open))

    def close_all(self) -> None:
        for w in list(self._open):
            w.close()
