"""Checking each field of a signed document: its type, its length and its characters.

Every field of root and release documents goes through one of these, so that what a
client believes is exactly what another client (or GRUB's 1 KiB environment block, or
a file name) can hold: text from a fixed alphabet with a bounded length, integers that
are integers (JSON `true` is not 1, although Python's bool is an int), and no field a
reader would ignore. Pure; each rejection is an `InvalidField` or `UnknownField`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from corral.trust.errors import InvalidField, UnknownField

MAX_INTEGER = 2**63 - 1  # what every JSON reader and a signed 64-bit integer can hold

PRODUCT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")  # also a directory name on the mirror
SHA256 = re.compile(r"[0-9a-f]{64}")
# a payload lives at pool/<sha256>/<file name>, content-addressed
PAYLOAD_PATH = re.compile(r"pool/([0-9a-f]{64})/[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")
FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")  # OpenPGP v4 or v5, as normalized


def only(doc: dict[str, Any], allowed: Iterable[str], what: str) -> None:
    """Refuse a field this version does not know: a reader would silently skip it."""
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise UnknownField(f"{what}: unknown field {unknown[0]!r}")


def text(doc: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else \
            f"{value[:80]!r}... ({len(value)} characters)"
        raise InvalidField(f"{what}: {name} {shown} is not of the form {pattern.pattern}")
    return value


def integer(doc: dict[str, Any], name: str, what: str, low: int,
            high: int = MAX_INTEGER) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"{what}: {name} {value!r} is not an integer from {low} to {high}")
    return value


def flag(doc: dict[str, Any], name: str, what: str) -> bool:
    value = doc.get(name)
    if not isinstance(value, bool):
        raise InvalidField(f"{what}: {name} {value!r} is not true or false")
    return value


def mapping(doc: dict[str, Any], name: str, what: str) -> dict[str, Any]:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise InvalidField(f"{what}: {name} is not an object")
    return value
