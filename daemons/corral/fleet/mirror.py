"""A local copy of the `/_corral/` tree kept current by one recursive watch.

The engine and each agent read the store once, then follow changes through a long-
poll watch from the next index: no polling of the store. Events are queued for the
owner's thread in store order. When the store has dropped the history the watch needs
(etcd error 401) or cannot be reached, the mirror re-reads everything and queues a
`reset` carrying the full snapshot, so the owner never misses a change.
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
    kind: str  # "reset", "set" or "delete"
    key: str = ""
    value: str | None = None
    snapshot: dict[str, str] = field(default_factory=dict)


class Mirror:
    def __init__(self, endpoint: str, root: str = ROOT, retry: float = 0.5) -> None:
        self.endpoint = endpoint
        self.root = root
        self.retry = retry
        self.events: queue.Queue[Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)

    def start(self) -> Mirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        client = Client(self.endpoint, timeout=5.0)
        while not self._stop.is_set():
            try:
                snapshot, index = self._snapshot(client)
                self.events.put(Event("reset", snapshot=snapshot))
                self._follow(client, index + 1)
            except EtcdError as exc:
                if exc.error_code != EVENT_INDEX_CLEARED:
                    log.warning("watch of %s failed: %s", self.root, exc)
                    self._stop.wait(self.retry)
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
                    self.events.put(Event("delete", key=prefix))
                else:
                    self.events.put(Event("delete", key=node.key))
            elif not node.dir:
                self.events.put(Event("set", key=node.key, value=node.value or ""))


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
