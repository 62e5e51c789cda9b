"""A local copy of the `/_corral/` tree kept current by one recursive watch.

An agent reads the store once, then follows changes through a long-poll watch from
the next index: no polling of the store. Events are queued for each subscriber in
store order; the agent's main loop and its engine share one mirror (one watch per
process, not one per role). A subscriber's first event is a `reset` carrying the
whole tree as the mirror holds it. When the store has dropped the history the watch
needs (etcd error 401) or cannot be reached, the mirror re-reads everything and
queues only the differences from what it held (sets and deletes), so subscribers
never miss a change and never redo work for keys that did not change.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from corral.client import EVENT_INDEX_CLEARED, KEY_NOT_FOUND, Client, EtcdError, StoreError
from corral.fleet.records import ROOT

log = logging.getLogger(__name__)


@dataclass
class Event:
    """One change of the mirrored tree, or a `reset` carrying all of it."""
    kind: str  # "reset", "set" or "delete"
    key: str = ""
    value: str | None = None
    snapshot: dict[str, str] = field(default_factory=dict)


class Mirror:
    """A thread that keeps a copy of the tree and queues its changes to subscribers."""

    def __init__(self, endpoint: str, root: str = ROOT, retry: float = 0.5) -> None:
        self.endpoint = endpoint
        self.root = root
        self.retry = retry
        self.events: queue.Queue[Event] = queue.Queue()  # the first subscriber's
        self._subscribers: list[queue.Queue[Event]] = [self.events]
        self._view: dict[str, str] = {}
        self._synced = False
        self._lock = threading.Lock()  # subscribing and emitting are atomic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)

    def start(self) -> Mirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def subscribe(self) -> queue.Queue[Event]:
        """Another queue of this mirror's events, starting with a `reset` of the tree
        as held now (once the first read has been done)."""
        q: queue.Queue[Event] = queue.Queue()
        with self._lock:
            if self._synced:
                q.put(Event("reset", snapshot=dict(self._view)))
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[Event]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _emit(self, event: Event) -> None:
        with self._lock:
            apply(self._view, event)
            for q in self._subscribers:
                q.put(event)

    def _resync(self, snapshot: dict[str, str]) -> None:
        if not self._synced:
            with self._lock:
                self._synced = True
            self._emit(Event("reset", snapshot=snapshot))
            return
        # a re-read: only what changed while the watch was not following
        gone = [k for k in self._view if k not in snapshot]
        for key in gone:
            self._emit(Event("delete", key=key))
        for key, value in snapshot.items():
            if self._view.get(key) != value:
                self._emit(Event("set", key=key, value=value))

    def _run(self) -> None:
        client = Client(self.endpoint, timeout=5.0)
        while not self._stop.is_set():
            try:
                snapshot, index = self._snapshot(client)
                self._resync(snapshot)
                self._follow(client, index + 1)
            except EtcdError as exc:
                if exc.error_code != EVENT_INDEX_CLEARED:
                    log.warning("watch of %s failed: %s", self.root, exc)
                    self._stop.wait(self.retry)
                else:
                    log.info("watch of %s fell behind the store's history: re-reading", self.root)
            except (StoreError, OSError) as exc:
                log.warning("store unreachable, retrying: %s", exc)
                self._stop.wait(self.retry)

    def _snapshot(self, client: Client) -> tuple[dict[str, str], int]:
        try:
            result = client.get(self.root, recursive=True)
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return {}, exc.index
            raise
        out = {n.key: n.value or "" for n in result.node.walk() if not n.dir}
        return out, result.etcd_index or 0

    def _follow(self, client: Client, index: int) -> None:
        for result in client.watch_forever(self.root, index=index, recursive=True):
            if self._stop.is_set():
                return
            node = result.node
            if result.action in ("delete", "expire", "compareAndDelete"):
                if node.dir:
                    # a directory went: its keys went with it
                    prefix = node.key.rstrip("/") + "/"
                    self._emit(Event("delete", key=prefix))
                else:
                    self._emit(Event("delete", key=node.key))
            elif not node.dir:
                self._emit(Event("set", key=node.key, value=node.value or ""))


def apply(view: dict[str, str], event: Event) -> None:
    """Apply an event to a dict of key -> value (a key ending in / deletes a subtree)."""
    if event.kind == "reset":
        view.clear()
        view.update(event.snapshot)
    elif event.kind == "set":
        view[event.key] = event.value or ""
    elif event.key.endswith("/"):
        for k in [k for k in view if k.startswith(event.key)]:
            del view[k]
    else:
        view.pop(event.key, None)
