"""The keys corral-updated answers between checks, followed by watches, not read on
every tick: the settings records (`config/all`, `config/<id>`: one watch of `config/`)
and this machine's requests (`requests/<id>/`: one watch).

An idle updater thus costs the store nothing between changes; a change reaches the
engine's copy within the watch's delay (milliseconds) and is acted on at the next tick.
The first read of each is done on the engine's thread (so the first step sees the
store as it is); a broken watch re-reads after a pause (`corral.follow`). Values are
checked by `StoreInput` as a read would be (a directory or an oversized value is
skipped with one log line).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from corral.client import Client
from corral.follow import CopyChange, Follower, apply
from corral.updated.records import CONFIG, REQUESTS


class ControlKeys:
    """The engine's copy of its settings records and requests, root by root."""

    def __init__(self, connect: Callable[[], Client], machine_id: str) -> None:
        self.settings = CONFIG
        self.requests = f"{REQUESTS}/{machine_id}"
        self._views: dict[str, dict[str, str]] = {self.settings: {}, self.requests: {}}
        self._lock = threading.Lock()
        self.version = 0  # counts changes of the copy: unchanged, nothing to look at
        self._followers = [
            Follower(connect, root, functools.partial(self._deliver, root)) for root in self._views
        ]

    def start(self) -> None:
        """Read whichever root has not been read yet, and follow it from then on; a
        StoreError leaves the rest for the next call."""
        for f in self._followers:
            if not f.started:
                f.start(read_first=True)

    def stop(self) -> None:
        for f in self._followers:
            f.stop()

    def copy(self, root: str) -> dict[str, str]:
        """The keys held under `root` (`settings` or `requests`), with their values."""
        with self._lock:
            return dict(self._views[root])

    def _deliver(self, root: str, event: CopyChange) -> None:
        with self._lock:
            apply(self._views[root], event)
            self.version += 1
