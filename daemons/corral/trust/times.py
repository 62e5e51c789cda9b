"""Times in signed documents: UTC, ISO 8601 with a `Z`, to the second.

One spelling only, so that two mirrors never disagree about when a document expires.
"""

from __future__ import annotations

from datetime import UTC, datetime

from corral.trust.errors import MalformedDocument


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedDocument(f"{what}: not a time")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise MalformedDocument(f"{what}: {text!r} is not YYYY-MM-DDTHH:MM:SSZ") from None
