"""A local copy of one key or directory of the store, kept current by one long-poll
watch: nothing is polled.

A `Follower` reads its root once (recursively), then watches it from the index after
that read, and each next watch from the index after the last event (waitIndex
continuity), so no change is missed. When the store has dropped the history the watch
needs (etcd error 401) it reads the root again at once; after any other failure (the
store unreachable, an error answered) it waits `retry` seconds first, so a broken watch
costs at most one read per `retry`. After a re-read only the differences from the copy
held are delivered.

Deliveries come in store order from the follower's thread: first a `reset` carrying the
root's keys, then `set` and `delete` events. Only values are kept (directories are not
values); a `delete` whose key ends in "/" removes every key below it, and a directory
removed at or above the root removes everything the follower holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from corral.client import Client, EtcdError, KeyNode, StoreError
from corral.etcd_errors import EventIndexCleared, KeyNotFound

log = logging.getLogger(__name__)
# the pause after a failed read or watch: a broken watch re-reads at most twice a second
RETRY_SECONDS = 0.5
GONE = ("delete", "expire", "compareAndDelete")


@dataclass
class CopyChange:
    """One change of the copy (a `reset` carries all of it)."""

    kind: str  # "reset", "set" or "delete"
    key: str = ""
    value: str | None = None
    snapshot: dict[str, str] = field(default_factory=dict)


def apply(view: dict[str, str], event: CopyChange) -> None:
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


class Follower:
    """One key or directory, read once and then watched (see the module's text)."""

    def __init__(
        self,
        connect: Callable[[], Client],
        root: str,
        deliver: Callable[[CopyChange], None],
        retry: float = RETRY_SECONDS,
    ) -> None:
        self.connect = connect
        self.root = "/" + root.strip("/")
        self.deliver = deliver
        self.retry = retry
        self._view: dict[str, str] = {}
        self._synced = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """Following now (a stopped follower may be started again)."""
        return self._thread is not None and not self._stop.is_set()

    def start(self, read_first: bool = False) -> Follower:
        """Follow from a thread of its own; with `read_first`, the first read is done
        here, before returning (its StoreError raised to the caller, nothing started)."""
        index = None
        if read_first:
            with self.connect() as client:
                snapshot, index = self._read(client)
            self.resync(snapshot)
        # each thread has its own stop: one stopped and still waiting in a watch never
        # wakes to find a later start's event clear
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(index, self._stop), name=f"watch {self.root}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following (a watch waiting in the store is left to end with the process)."""
        self._stop.set()

    def resync(self, snapshot: dict[str, str]) -> None:
        """Deliver what a fresh read of the root changes: all of it, as a reset, the
        first time; after that only the keys that differ from the copy held."""
        if not self._synced:
            self._synced = True
            self._view = dict(snapshot)
            self.deliver(CopyChange("reset", snapshot=dict(snapshot)))
            return
        for key in [k for k in self._view if k not in snapshot]:
            self._put(CopyChange("delete", key=key))
        for key, value in snapshot.items():
            if self._view.get(key) != value:
                self._put(CopyChange("set", key=key, value=value))

    def on_change(self, action: str, node: KeyNode) -> None:
        """Deliver one watch event (a directory's own set carries no value: nothing)."""
        if action not in GONE:
            if not node.dir:
                self._put(CopyChange("set", key=node.key, value=node.value or ""))
            return
        key = "/" + node.key.strip("/")
        if node.dir and (self.root == key or self.root.startswith(key.rstrip("/") + "/")):
            # the root's directory or one above it went: so did everything held
            self._put(CopyChange("delete", key=self.root.rstrip("/") + "/"))
            if self.root in self._view:
                self._put(CopyChange("delete", key=self.root))
        else:
            self._put(CopyChange("delete", key=key + "/" if node.dir else key))

    def _put(self, event: CopyChange) -> None:
        apply(self._view, event)
        self.deliver(event)

    def _run(self, index: int | None, stop: threading.Event) -> None:
        client = self.connect()
        try:
            while not stop.is_set():
                try:
                    if index is None:
                        snapshot, index = self._read(client)
                        self.resync(snapshot)
                    self._follow(client, index + 1, stop)
                except (StoreError, OSError) as exc:
                    if stop.is_set():  # stopped while its watch waited: nothing to say
                        return
                    self._broken(exc, stop)
                index = None  # whatever broke the watch, read again before the next
        finally:
            client.close()

    def _broken(self, exc: StoreError | OSError, stop: threading.Event) -> None:
        """Say why the watch broke; wait before reading again unless it fell behind."""
        if isinstance(exc, EventIndexCleared):
            log.info("watch of %s fell behind the store's history: re-reading", self.root)
            return
        if isinstance(exc, EtcdError):
            log.warning("watch of %s failed: %s", self.root, exc)
        else:
            log.warning("store unreachable, retrying: %s", exc)
        stop.wait(self.retry)

    def _read(self, client: Client) -> tuple[dict[str, str], int]:
        try:
            result = client.get(self.root, recursive=True)
        except KeyNotFound as exc:
            return {}, exc.index
        out = {n.key: n.value or "" for n in result.node.walk() if not n.dir}
        return out, result.etcd_index or 0

    def _follow(self, client: Client, index: int, stop: threading.Event) -> None:
        for result in client.watch_forever(self.root, index=index, recursive=True):
            if stop.is_set():
                return
            self.on_change(result.action, result.node)
