"""Engine election through the TTL key `/_corral/engine/leader`.

Whoever creates the key (prevExist=false) is the engine until the key expires; the
holder renews it at a third of its TTL with a refresh conditional on still holding it
(prevValue): a refresh wakes no watcher. An agent that lost a campaign does not try
again on a timer: it watches the key from the index it was last seen held at, and
campaigns once the key is gone (expired, deleted by a resigning holder). A watch that
fails (the store unreachable, its history lost) ends the wait after a pause, and the
next campaign reads the key again. A holder that fails to renew stops acting at once;
the engine's writes are also compare-and-swap, so a holder that was paused past its TTL
cannot undo what its successor wrote.

A leader key without a TTL, or a directory there, was written by no engine and would
block every election forever: a campaign that finds one deletes it (a plain key only
if unchanged since read); the wait then ends at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from corral.client import Client, EtcdError, StoreError
from corral.etcd_errors import EventIndexCleared, KeyNotFound, NodeExist, TestFailed
from corral.fleet.records import LEADER
from corral.follow import GONE, RETRY_SECONDS

log = logging.getLogger(__name__)


class Leadership:
    """This machine's campaign for the engine's leader key, and whether it holds it."""

    def __init__(
        self, client: Client, machine_id: str, ttl: int, connect: Callable[[], Client]
    ) -> None:
        self.client = client
        self.machine_id = machine_id
        self.ttl = ttl
        self.connect = connect  # a client of its own for each wait
        self._held_until = 0.0
        self._seen_held = 0  # the store index at which another holder was last seen

    @property
    def held(self) -> bool:
        """True while the last successful acquire/renew is younger than the TTL."""
        return time.monotonic() < self._held_until

    def campaign(self) -> bool:
        """Take the key if free, renew it if ours. Returns whether we hold it."""
        started = time.monotonic()
        try:
            if self.held:
                self.client.refresh(LEADER, self.ttl, prev_value=self.machine_id)
            else:
                self.client.create(LEADER, self.machine_id, ttl=self.ttl)
        except (KeyNotFound, TestFailed, NodeExist) as exc:
            self._held_until = 0.0
            self._seen_held = 0
            if isinstance(exc, NodeExist):
                self._read_holder()
            return False
        self._held_until = started + self.ttl
        return True

    def _read_holder(self) -> None:
        """Note the index the key is held at, for the wait; clear a key no engine wrote."""
        try:
            result = self.client.get(LEADER)
        except EtcdError:
            return  # gone meanwhile: the wait ends at once
        node = result.node
        try:
            if node.dir:
                log.warning("election: %s is a directory; deleting it", LEADER)
                self.client.delete(LEADER, recursive=True)
            elif node.ttl is None:
                log.warning("election: %s has no TTL (%.80r); deleting it", LEADER, node.value)
                self.client.delete(LEADER, prev_index=node.modified_index)
            else:
                self._seen_held = result.etcd_index or node.modified_index
        except EtcdError:
            return  # changed meanwhile: the next campaign looks again

    def wait_vacant(self, wake: threading.Event) -> None:
        """Set `wake` once the key is gone since it was last seen held (at once when it
        was not seen held); waits on a thread of its own, so `wake` may be set by
        others too (a stopping agent)."""
        if not self._seen_held:
            wake.set()
            return
        threading.Thread(
            target=self._watch, args=(self._seen_held + 1, wake), name="election", daemon=True
        ).start()

    def _watch(self, index: int, wake: threading.Event) -> None:
        try:
            with self.connect() as client:
                for result in client.watch_forever(LEADER, index=index):
                    if result.action in GONE or wake.is_set():
                        break
        except EventIndexCleared:
            pass  # fell behind the history: wake and look again
        except (StoreError, OSError) as exc:
            log.warning("election: watching %s: %s", LEADER, exc)
            time.sleep(RETRY_SECONDS)
        wake.set()

    def resign(self) -> None:
        if self.held:
            with contextlib.suppress(EtcdError):
                self.client.delete(LEADER, prev_value=self.machine_id)
        self._held_until = 0.0
