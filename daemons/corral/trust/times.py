"""Times in signed documents: UTC, ISO 8601 with a `Z`, to the second.

One spelling only (`YYYY-MM-DDTHH:MM:SSZ`, every field zero-padded), so that two
mirrors never disagree about when a document expires. Parsed with a regular
expression rather than `strptime`, whose first use costs ~3 ms of a sync's start-up
(it builds locale tables) and which also accepts unpadded fields.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from corral.trust.errors import MalformedDocument

_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedDocument(f"{what}: not a time")
    match = _TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(field) for field in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # no match, or a field out of range (month 13, 25 o'clock...)
        raise MalformedDocument(f"{what}: {text!r} is not YYYY-MM-DDTHH:MM:SSZ") from None
