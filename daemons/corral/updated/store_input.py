"""The engine's reads of its control keys: the store's data is untrusted input.

Keys are read from the store, or looked up in a watched copy of it (`control.py`) with
the same checks. A directory where a value is expected, or a value over `MAX_VALUE`, is
skipped (read as absent) with one log line per key and problem; the line comes again only after the
key was seen sound or absent in between. So junk in the store never becomes a
traceback, a loop that fails every tick, or a log line every tick.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from corral.client import Client
from corral.etcd_errors import KeyNotFound, NotFile

# the largest control value read (a config record is well under 1 KiB, a status ~1 KiB)
MAX_VALUE = 64 << 10

log = logging.getLogger("corral.updated")


class StoreInput:
    """Reads of control keys that skip junk values, logging each problem once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._reported: dict[str, str] = {}  # key -> the problem last logged for it

    def junk(self, key: str, why: str) -> None:
        if self._reported.get(key) != why:
            self._reported[key] = why
            log.warning("%s: %s; skipped", key, why)

    def _sound(self, key: str) -> None:
        self._reported.pop(key, None)

    def value(self, key: str) -> str | None:
        """The key's value; None when it is absent, a directory or too large."""
        try:
            node = self.client.get(key).node
        except KeyNotFound:
            self._sound(key)
            return None
        if node.dir:
            self.junk(key, "a directory where a value is expected")
            return None
        return self._sized(key, node.value or "")

    def value_in(self, copy: Mapping[str, str], key: str) -> str | None:
        """`value`, looked up in a watched copy of the store (keys below: a directory)."""
        if _has_below(copy, key):
            self.junk(key, "a directory where a value is expected")
            return None
        text = copy.get(key)
        if text is None:
            self._sound(key)
            return None
        return self._sized(key, text)

    def _sized(self, key: str, text: str) -> str | None:
        if len(text) > MAX_VALUE:
            self.junk(key, f"a value of {len(text)} bytes, over the limit of {MAX_VALUE}")
            return None
        self._sound(key)
        return text

    def take_from(self, copy: Mapping[str, str], key: str) -> bool:
        """`take` of a request the watched copy holds; False, asking nothing, when the
        copy does not hold it."""
        if _has_below(copy, key):
            self.junk(key, "a directory where a request is expected")
            return False
        if key not in copy:
            self._sound(key)
            return False
        return self.take(key)

    def take(self, key: str) -> bool:
        """Consume a request key: True when it was there (and is now deleted)."""
        try:
            self.client.delete(key)
        except KeyNotFound:
            self._sound(key)
            return False
        except NotFile:
            self.junk(key, "a directory where a request is expected")
            return False
        self._sound(key)
        return True


def _has_below(copy: Mapping[str, str], key: str) -> bool:
    prefix = key + "/"
    return any(k.startswith(prefix) for k in copy)
