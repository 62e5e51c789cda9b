"""What a gateway reads from etcd is untrusted input (anything with access to etcd
may have written it): a record that is not a gateway's is skipped or read in a safe
way, and reported here, never allowed to stop the feed or a read.

A report is one log line; the same kind of report is written at most once every
`REPORT_EVERY` seconds, with the count of those held back since, so a flood of bad
records (or one read again and again) cannot flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

REPORT_EVERY = 30.0  # seconds between two log lines about the same kind of bad record


class Malformed(ValueError):
    """A record read from etcd that a gateway did not write, or cannot use."""


class Reports:
    """Rate-limited log lines about data from etcd that was skipped as malformed."""

    def __init__(self, every: float = REPORT_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def skipped(self, kind: str, detail: str) -> None:
        """One bad record of `kind` skipped (or read safely): `detail` says which, why."""
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        more = f" ({held} more {kind} problems since the last report)" if held else ""
        log.warning("untrusted data in etcd: %s: %s%s", kind, detail, more)


REPORTS = Reports()
