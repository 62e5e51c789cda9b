"""Checking a payload as it streams in, so endless data is cut off at the declared size.

Feed chunks to `PayloadCheck` as they arrive; it refuses the first byte beyond the
declared size (PayloadTooLarge) and `finish()` refuses a wrong sha256 or a short
payload (PayloadHashMismatch). A caller resuming a download feeds the bytes it
already has first. No I/O here.
"""

from __future__ import annotations

import hashlib

from corral.trust.errors import PayloadHashMismatch, PayloadTooLarge
from corral.trust.release import Payload


class PayloadCheck:
    def __init__(self, payload: Payload) -> None:
        self.payload = payload
        self.received = 0
        self._hash = hashlib.sha256()

    @property
    def remaining(self) -> int:
        """How many more bytes may be read: callers read at most this plus one."""
        return self.payload.size - self.received

    def feed(self, chunk: bytes) -> None:
        if self.received + len(chunk) > self.payload.size:
            raise PayloadTooLarge(
                f"{self.payload.path}: more than the declared {self.payload.size} bytes;"
                " download stopped"
            )
        self.received += len(chunk)
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
