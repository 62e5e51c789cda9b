"""Progress bars for long transfers, drawn only when stderr is a terminal.

Redrawn at most ten times a second, so a fast transfer is not slowed by its own bar.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts bytes; draws nothing. The base for `Bar`, and the quiet default."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count

    def finish(self) -> None:
        pass


class Bar(Progress):
    """A progress line on a terminal: percentage and rate, redrawn in place."""

    def __init__(self, label: str, total: int, out: TextIO) -> None:
        super().__init__(label, total)
        self.out = out
        self.started = time.monotonic()
        self.drawn = 0.0

    def advance(self, count: int) -> None:
        super().advance(count)
        now = time.monotonic()
        if now - self.drawn >= 0.1:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total if self.total else 1.0
        width = 30
        filled = int(width * fraction)
        rate = self.done / max(now - self.started, 1e-6) / (1 << 20)
        self.out.write(
            f"\r{self.label[:30]:30} [{'#' * filled}{'.' * (width - filled)}]"
            f" {fraction * 100:5.1f}% {rate:7.1f} MiB/s"
        )
        self.out.flush()

    def finish(self) -> None:
        self._draw(time.monotonic())
        self.out.write("\n")
        self.out.flush()


def progress_for(label: str, total: int, out: TextIO | None = None) -> Progress:
    stream = out if out is not None else sys.stderr
    if stream.isatty():
        return Bar(label, total, stream)
    return Progress(label, total)
