"""One log line per problem, not one per pass: a loop that meets the same bad record
or the same failing action every half second logs it once, again only when the
message changes or REPEAT_EVERY has passed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REPEAT_EVERY = 600.0  # seconds: a lasting problem is still seen in a recent log
MAX_SUBJECTS = 10_000  # remembered subjects; beyond it the memory starts afresh


class QuietLog:
    """A logger's warnings, each logged once per subject until its message changes."""

    def __init__(
        self, log: logging.Logger, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.clock = clock
        self._last: dict[str, tuple[str, float]] = {}

    def warning(self, subject: str, message: str) -> None:
        """Log `message` about `subject` unless it was just logged."""
        now = self.clock()
        seen = self._last.get(subject)
        if seen is not None and seen[0] == message and now - seen[1] < REPEAT_EVERY:
            return
        if len(self._last) >= MAX_SUBJECTS:
            self._last.clear()
        self._last[subject] = (message, now)
        self.log.warning("%s", message)

    def resolved(self, subject: str) -> None:
        """The problem went away: a recurrence is logged at once."""
        self._last.pop(subject, None)
