"""The watcher hub: watchers by key, woken by the write that concerns them.

Pure: a watcher is handed events through a callback (`deliver`); the I/O layer turns
that into an asyncio wake-up. No polling: `notify` visits only the watchers registered
on the event's key and its ancestors (and, for a removed directory, those below it).
A non-stream watcher is removed after its first event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from corral.store.errors import EtcdError
from corral.store.event import Event
from corral.store.history import EventHistory

Deliver = Callable[[Event], None]


def _hidden_below(watch_path: str, key: str) -> bool:
    """Whether `key` is hidden when seen from a watch on `watch_path`."""
    if len(watch_path) > len(key):
        return False
    return "/_" in "/" + key[len(watch_path) :].lstrip("/")


class Watcher:
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
    def __init__(self, history: EventHistory | None = None) -> None:
        self.history = history or EventHistory()
        self.watchers: dict[str, dict[int, Watcher]] = {}
        self.count = 0
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
        watcher. Raises EtcdError 401 (with the store index) if `since` was cleared."""
        try:
            found = self.history.scan(key, recursive, since)
        except EtcdError as exc:
            exc.index = store_index
            raise
        if found is not None:
            # As etcd: an event from the history answers the watch, even a stream.
            return None, found.with_etcd_index(store_index)
        w = Watcher(next(self._ids), key, recursive, stream, since, store_index, deliver)
        self.watchers.setdefault(key, {})[w.id] = w
        self.count += 1
        return w, None

    def remove(self, w: Watcher) -> None:
        if w.removed:
            return
        w.removed = True
        group = self.watchers.get(w.key)
        if group is not None and group.pop(w.id, None) is not None:
            self.count -= 1
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
