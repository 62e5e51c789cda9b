"""The daemon's heartbeat: `/_corral/update/alive/<id>` with a TTL, refreshed at a
third of it from its own thread (so a long download or drain never lets it lapse).
A lock holder whose heartbeat key expired is dropped by the next machine that wants
the lock (see `reboot_lock`).
"""

from __future__ import annotations

import logging
import threading

from corral.client import Client, StoreError
from corral.etcd_errors import KeyNotFound
from corral.updated.records import ALIVE

log = logging.getLogger("corral.updated")


class Heartbeat:
    """A thread that keeps this machine's `alive` key from expiring."""

    def __init__(self, endpoint: str, machine_id: str, ttl: int) -> None:
        self.endpoint = endpoint
        self.key = f"{ALIVE}/{machine_id}"
        self.ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        with Client(self.endpoint, timeout=max(1.0, self.ttl / 3)) as client:
            client.set(self.key, "alive", ttl=self.ttl)
        self._thread.start()

    def _run(self) -> None:
        client = Client(self.endpoint, timeout=max(1.0, self.ttl / 3))
        while not self._stop.wait(self.ttl / 3):
            try:
                client.refresh(self.key, self.ttl)
            except KeyNotFound:
                try:
                    client.set(self.key, "alive", ttl=self.ttl)
                except StoreError as again:
                    log.warning("heartbeat: %s", again)
            except StoreError as exc:
                log.warning("heartbeat: %s", exc)
        client.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.ttl)
