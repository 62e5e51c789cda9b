"""Checking a payload as it streams in, so endless data is cut off at the declared size.

Feed chunks to `PayloadCheck` as they arrive; it refuses the first byte beyond the
declared size (PayloadTooLarge) and `finish()` refuses a wrong sha256 or a short
payload (PayloadHashMismatch). A caller resuming a download feeds the bytes it
already has first. No I/O here.

`feed` is `count` (the size bound) then `digest` (the hash). A downloader may call
them apart, to hash on another thread while it receives: it must `count` a chunk
before it keeps it, and `digest` every counted chunk once, in order.
"""

from __future__ import annotations

import hashlib

from corral.trust.errors import PayloadHashMismatch, PayloadTooLarge
from corral.trust.release import Payload


class PayloadCheck:
    """Checks a payload's bytes as they arrive: never past its size, hash at the end."""

    def __init__(self, payload: Payload) -> None:
        self.payload = payload
        self.received = 0
        self._hash = hashlib.sha256()

    @property
    def remaining(self) -> int:
        """How many more bytes may be read: callers read at most this plus one."""
        return self.payload.size - self.received

    def feed(self, chunk: bytes | memoryview) -> None:
        self.count(len(chunk))
        self.digest(chunk)

    def count(self, size: int) -> None:
        """Admit `size` more bytes, or refuse them (PayloadTooLarge)."""
        if self.received + size > self.payload.size:
            raise PayloadTooLarge(
                f"{self.payload.path}: more than the declared {self.payload.size} bytes;"
                " download stopped"
            )
        self.received += size

    def digest(self, chunk: bytes | memoryview) -> None:
        """Hash bytes already admitted by `count`."""
        self._hash.update(chunk)

    def finish(self) -> None:
        if self.received != self.payload.size:
            raise PayloadHashMismatch(
                f"{self.payload.path}: {self.received} bytes, declared {self.payload.size}"
            )
        actual = self._hash.hexdigest()
        if actual != self.payload.sha256:
            raise PayloadHashMismatch(
                f"{self.payload.path}: sha256 {actual}, declared {self.payload.sha256}"
            )


def check_payload(payload: Payload, data: bytes) -> None:
    """Whole-payload form of PayloadCheck, for payloads already in memory."""
    check = PayloadCheck(payload)
    check.feed(data[: payload.size + 1])
    check.finish()
