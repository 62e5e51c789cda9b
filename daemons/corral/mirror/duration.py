"""Parsing `--expires` style durations: 30d, 12h, 90m, 3600s, 2w."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"bad duration {text!r}: use e.g. 30d, 12h, 90m, 3600s, 2w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
