"""Durations, one grammar for every flag, module option and unit file: systemd.time(7)'s
time spans, so what works in a unit file works on a command line and the reverse.

A span is one or more numbers, each with an optional unit, added up: `90s`, `5min`,
`1h30m`, `1h 30min`, `1.5h`, `1d`, `2w`, `500ms`; a bare number is seconds. Units as
systemd's: us, ms, s, min or m, h, d, w, M (a month, 30.44 days), y (365.25 days), and
their long names. Case matters (`M` is a month, `m` a minute). `infinity` only where
the caller allows it (unit files). Pure: standard library only, no logging.
"""

from __future__ import annotations

import re

# One phrase for every --help that takes a duration (and the error messages).
HELP = "DURATION as in systemd: 500ms, 90s, 5min, 1h30m, 1d, 2w; a bare number is seconds"
UNIT_NAMES = "us, ms, s, min or m, h, d, w, M (month), y (year)"

_US = {
    "usec": 1, "us": 1, "\u00b5s": 1, "\u03bcs": 1,
    "msec": 1000, "ms": 1000,
    "seconds": 10**6, "second": 10**6, "sec": 10**6, "s": 10**6,
    "minutes": 60 * 10**6, "minute": 60 * 10**6, "min": 60 * 10**6, "m": 60 * 10**6,
    "hours": 3600 * 10**6, "hour": 3600 * 10**6, "hr": 3600 * 10**6, "h": 3600 * 10**6,
    "days": 86400 * 10**6, "day": 86400 * 10**6, "d": 86400 * 10**6,
    "weeks": 604800 * 10**6, "week": 604800 * 10**6, "w": 604800 * 10**6,
    "months": 2629800 * 10**6, "month": 2629800 * 10**6, "M": 2629800 * 10**6,
    "years": 31557600 * 10**6, "year": 31557600 * 10**6, "y": 31557600 * 10**6,
}  # fmt: skip
# systemd's USEC_INFINITY: a span at or past it is out of range there, and here too
MAX_US = 2**64 - 1
_UNIT = "|".join(sorted(map(re.escape, _US), key=len, reverse=True))  # longest first
_BLANK = " \t\n\r"  # systemd's WHITESPACE
_PART = re.compile(rf"[{_BLANK}]*([0-9]*)(?:\.([0-9]+))?([{_BLANK}]*)({_UNIT})?")
_MAX_DIGITS = 20  # MAX_US has 20: more is out of range (and int() refuses 4,300)


class DurationError(ValueError):
    """Text that is not a duration; the message names the grammar."""


def parse_duration(text: str, *, infinity: bool = False) -> float:
    """Seconds in `text`; `inf` for `infinity` when `infinity` is allowed. Raises
    DurationError for anything else (empty, negative, unknown unit, out of range)."""
    if text.strip(_BLANK) == "infinity" and infinity:
        return float("inf")
    total, at, end = 0, 0, len(text.rstrip(_BLANK))
    if end == 0:
        raise _error(text)
    while at < end:
        match = _PART.match(text, at)
        if match is None:  # cannot happen: every group may be empty
            raise _error(text)
        whole, fraction, gap, unit = match.groups()
        if not (whole or fraction):
            raise _error(text)
        if unit is None and not gap and match.end() < end:  # `12.34.56`, `5x`, as systemd
            raise _error(text)
        if len(whole) > _MAX_DIGITS:
            raise _range(text)
        scale = _US[unit or "s"]
        total += int(whole or "0") * scale
        for digit in fraction or "":  # as systemd: each digit's share, truncated
            scale //= 10
            total += int(digit) * scale
        if total >= MAX_US:
            raise _range(text)
        at = match.end()
    return total / 10**6


def _error(text: str) -> DurationError:
    return DurationError(
        f"bad duration {text!r}: expected a systemd time span such as 90s, 5min, 1h30m,"
        f" 1d, 2w, 500ms (units: {UNIT_NAMES}; a bare number is seconds)"
    )


def _range(text: str) -> DurationError:
    return DurationError(f"duration {text!r} is out of range (systemd's limit: about 584,000y)")
