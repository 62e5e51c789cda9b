"""One logging set-up for every daemon: journald-native under systemd, plain text or
JSON elsewhere.

Under systemd, stderr is a stream into the journal (`JOURNAL_STREAM` names its device
and inode): each line then starts with sd-daemon's `<N>` priority prefix and carries no
timestamp of its own, since the journal stamps it, so `journalctl -p warning` works.
`--log-format json` writes one JSON object a line for log shippers. Message wording is
the same in every format.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

# the flags live apart, so a parser can be built without importing logging
from corral.log_flags import ACCEPTED_LEVELS, FORMATS, LEVELS, add_arguments  # noqa: F401

# syslog priorities (sd-daemon(3)) for Python's levels
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def priority(level: int) -> int:
    """The syslog priority of a Python log level (levels between take the next lower)."""
    for threshold in sorted(_PRIORITY, reverse=True):
        if level >= threshold:
            return _PRIORITY[threshold]
    return 7


def stream_is_journal(stream: TextIO, journal_stream: str | None) -> bool:
    """True when `stream` is the journal stream systemd connected (JOURNAL_STREAM is
    `DEVICE:INODE` of it); a daemon whose stderr was redirected elsewhere is not."""
    if not journal_stream:
        return False
    try:
        device, inode = (int(part) for part in journal_stream.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


class JournalFormatter(logging.Formatter):
    """`<priority>name: message`, no timestamp: the journal adds its own."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prefix = f"<{priority(record.levelno)}>"
        # every line of a multi-line message (a traceback) keeps the priority
        return "\n".join(prefix + line for line in text.splitlines() or [""])


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (RFC 3339, UTC), level, logger, message, daemon."""

    converter = staticmethod(time.gmtime)

    def __init__(self, daemon: str) -> None:
        super().__init__()
        self.daemon = daemon

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "daemon": self.daemon,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record is emitted, so a command run
    in-process (a test, an embedding program) never writes to a stream since closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(daemon: str, level: str = "info", fmt: str = "text",
              stream: TextIO | None = None) -> None:  # fmt: skip
    """Sets up the root logger for `daemon` (its name appears in text lines)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out) if stream is not None else _StderrHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter(daemon)
    elif stream_is_journal(out, os.environ.get("JOURNAL_STREAM")):
        formatter = JournalFormatter("%(name)s: %(message)s")
    else:
        formatter = logging.Formatter(f"%(asctime)s {daemon} %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
