"""Hashing on a worker thread, so a download receives, writes and hashes at once.

hashlib releases the GIL on large updates, so on two cores this overlaps the sha256
of one chunk with the write of the next: a 1 GiB sync is bounded by the slowest of
the three, not their sum. The queue is bounded, so memory stays a few chunks.
"""

from __future__ import annotations

import queue
import threading
from types import TracebackType

from corral.trust import PayloadCheck

_DONE = None


class BackgroundDigest:
    """Feeds chunks to `check.digest` in order on one thread; `close()` waits for it."""

    def __init__(self, check: PayloadCheck, depth: int = 8) -> None:
        self.check = check
        self.chunks: queue.Queue[bytes | None] = queue.Queue(depth)
        self.thread = threading.Thread(target=self._run, name="payload-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (chunk := self.chunks.get()) is not _DONE:
            self.check.digest(chunk)

    def put(self, chunk: bytes) -> None:
        self.chunks.put(chunk)

    def close(self) -> None:
        self.chunks.put(_DONE)
        self.thread.join()

    def __enter__(self) -> BackgroundDigest:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
