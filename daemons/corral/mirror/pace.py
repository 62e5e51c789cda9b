"""How slow a transfer may be before it is abandoned: TUF's slow-retrieval defence.

A mirror that answers, but one byte every few seconds, would otherwise hold a sync (and
the mirror's lock) or an update engine's download forever: a socket timeout only bounds
each read. `Pace` is the policy, pure:

- after `grace` seconds, the average rate since the request began must stay at or
  above `min_rate` bytes/s;
- the whole transfer, connection, status line and headers included, must end by a
  deadline: `grace + size / min_rate` for a payload of declared `size`, and
  `document_deadline` for a document (a few KiB; the cap also bounds its headers).

`Watchdog` enforces it for one HTTP transfer: a thread that wakes every `tick` and,
when the policy says so, shuts the connection's socket down, so that whatever read is
blocked returns at once; the reader then raises `SlowRetrieval` with the reason. Used
by `corral.mirror.fetch.HttpFetcher` (sync, and the update engine's downloads).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

MIN_RATE = 16 << 10  # bytes/s: a LAN or WAN link is far faster; a drip is far slower
GRACE = 30.0  # seconds before the rate counts: connection set-up, a busy mirror's start
DOCUMENT_DEADLINE = 60.0  # seconds for one document: a few KiB, with its headers
TICK = 1.0  # seconds between the watchdog's checks: one wake-up a second per transfer


@dataclass(frozen=True)
class Pace:
    """The slowest a transfer may go: a minimum average rate and deadlines."""
    min_rate: float = MIN_RATE
    grace: float = GRACE
    document_deadline: float = DOCUMENT_DEADLINE

    def __post_init__(self) -> None:
        if self.min_rate <= 0 or self.grace < 0 or self.document_deadline <= 0:
            raise ValueError(f"bad transfer pace {self}: rates and deadlines must be positive")

    def deadline(self, size: int | None) -> float:
        """Seconds the whole transfer may take: `size` bytes of payload, or a document."""
        if size is None:
            return self.document_deadline
        return self.grace + size / self.min_rate

    def verdict(self, received: int, elapsed: float, size: int | None) -> str | None:
        """Why the transfer must be abandoned now, or None while it is fast enough."""
        limit = self.deadline(size)
        if elapsed > limit:
            what = "document" if size is None else f"{size} bytes"
            return f"not done after {limit:.0f} s (deadline for {what})"
        if size is not None and elapsed > self.grace and received < self.min_rate * elapsed:
            return (
                f"{received} bytes in {elapsed:.0f} s, under the minimum average of"
                f" {self.min_rate:.0f} bytes/s"
            )
        return None


DEFAULT_PACE = Pace()


class Watchdog:
    """Abandons one transfer that breaks its `Pace`; use as a context manager."""

    def __init__(self, pace: Pace, size: int | None, tick: float = TICK) -> None:
        self.pace = pace
        self.size = size
        self.tick = min(tick, max(pace.deadline(size) / 4, 0.05))
        self.received = 0  # advanced by the reader; read here without a lock (an int)
        self.reason: str | None = None
        self._sock: socket.socket | None = None
        self._started = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="transfer-pace", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket to shut down once the transfer is abandoned (once connected)."""
        self._sock = sock
        if self.reason is not None:
            self._shut()

    def _run(self) -> None:
        while not self._done.wait(self.tick):
            elapsed = time.monotonic() - self._started
            reason = self.pace.verdict(self.received, elapsed, self.size)
            if reason is not None:
                self.reason = reason
                self._shut()
                return

    def _shut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed by the reader
                self._sock.shutdown(socket.SHUT_RDWR)  # a blocked recv returns at once
