"""One committed batch as a commit-log payload: its row changes, its events and the
store index after it (pure: bytes in, bytes out).

JSON, so a data directory outlives the Python that wrote it. Events go in as the
bytes already rendered for their answer (no second json.dumps on the write path).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corral.store.event import Event
from corral.store.store import DeleteRow, JournalEntry, PutRow


class BatchError(ValueError):
    """A payload that passed its CRC but is not a batch: written by something else."""


@dataclass(frozen=True)
class Batch:
    """One decoded commit-log payload: the index after it, its row changes, its events."""

    index: int
    journal: list[JournalEntry]
    events: list[Event]


def encode(journal: Sequence[JournalEntry], events: Sequence[Event], index: int) -> bytes:
    rendered = b",".join(b"[%d,%s]" % (e.refresh, e.to_json().rstrip(b"\n")) for e in events)
    return b'{"i":%d,"j":%s,"e":[%s]}' % (index, json.dumps(journal).encode(), rendered)


def decode(payload: bytes) -> Batch:
    try:
        data = json.loads(payload)
        journal: list[JournalEntry] = []
        for entry in data["j"]:
            if entry[0] == "put":
                path, value, is_dir, created, modified, expire = entry[1]
                row = (path, value, bool(is_dir), created, modified, expire)
                journal.append(PutRow(("put", row)))
            elif entry[0] == "del":
                journal.append(DeleteRow(("del", str(entry[1]), bool(entry[2]))))
            else:
                raise ValueError(f"unknown change {entry[0]!r}")
        events = [Event.from_dict(_obj(d), bool(refresh)) for refresh, d in data["e"]]
        return Batch(int(data["i"]), journal, events)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise BatchError(f"not a batch: {exc}") from exc


def _obj(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict) or "node" not in d or "action" not in d:
        raise ValueError("event without action or node")
    return d
