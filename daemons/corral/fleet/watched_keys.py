"""A local copy of the parts of `/_corral/` a process needs, each part (a scope: a key
or a directory) followed by one watch of its own (`corral.follow`): no polling, and
no wake-up for a change outside the scopes (another machine's heartbeat or update
status never reaches an agent).

Events are queued for each subscriber in store order per scope; the agent's main loop
reads them. A subscriber's first event is a `reset` carrying the union of the scopes
as this copy holds it, queued once every scope has been read. After a scope is read
again (history lost: etcd error 401, or the store unreachable), only the differences
from what it held are queued, so subscribers never miss a change and never redo work
for keys that did not change. Scopes must not overlap.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Sequence

from corral.client import Client
from corral.follow import RETRY_SECONDS, CopyChange, Follower, apply

__all__ = ["CopyChange", "WatchedKeys", "apply"]
READ_TIMEOUT = 5.0  # seconds for a scope's read (its watches wait as long as they must)


class WatchedKeys:
    """Followers of some scopes, their changes queued to subscribers."""

    def __init__(
        self, endpoint: str, scopes: Sequence[str], retry: float = RETRY_SECONDS
    ) -> None:
        self.endpoint = endpoint
        self.scopes = tuple(scopes)
        self.events: queue.Queue[CopyChange] = queue.Queue()  # the first subscriber's
        self._subscribers: list[queue.Queue[CopyChange]] = [self.events]
        self._view: dict[str, str] = {}
        self._unread = set(self.scopes)  # scopes whose first read has not come yet
        self._lock = threading.Lock()  # subscribing and emitting are atomic
        self._followers = [
            Follower(self._connect, scope, functools.partial(self.deliver, scope), retry)
            for scope in self.scopes
        ]

    def _connect(self) -> Client:
        return Client(self.endpoint, timeout=READ_TIMEOUT)

    def start(self) -> WatchedKeys:
        for f in self._followers:
            f.start()
        return self

    def stop(self) -> None:
        for f in self._followers:
            f.stop()

    @property
    def synced(self) -> bool:
        return not self._unread

    def subscribe(self) -> queue.Queue[CopyChange]:
        """Another queue of these keys' events, starting with a `reset` of the keys
        as held now (once every scope has been read)."""
        q: queue.Queue[CopyChange] = queue.Queue()
        with self._lock:
            if not self._unread:
                q.put(CopyChange("reset", snapshot=dict(self._view)))
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[CopyChange]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def deliver(self, scope: str, event: CopyChange) -> None:
        """One scope's event (its first read comes as a reset of that scope alone)."""
        with self._lock:
            if event.kind == "reset":
                self._view.update(event.snapshot)
                if self._unread:
                    self._unread.discard(scope)
                    if not self._unread:
                        for q in self._subscribers:
                            q.put(CopyChange("reset", snapshot=dict(self._view)))
                return
            apply(self._view, event)
            if not self._unread:
                for q in self._subscribers:
                    q.put(event)
