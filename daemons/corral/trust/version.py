"""Release version ordering: dotted numbers with an optional pre-release suffix.

`1.10.0 > 1.9.2`; a pre-release sorts before its release (`1.2.0-rc1 < 1.2.0`), and
pre-release suffixes compare as strings. Anything else is not a version and is refused,
so two mirrors can never disagree about which of two versions is newer; so is anything
longer than `MAX_LENGTH` characters, or with a trailing newline.
"""

from __future__ import annotations

import re
from functools import total_ordering

_VERSION = re.compile(r"([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z][0-9A-Za-z.]*))?")  # ASCII
MAX_LENGTH = 64  # characters: versions go into GRUB's 1 KiB environment block


@total_ordering
class Version:
    """A parsed, comparable version."""

    def __init__(self, text: str) -> None:
        match = (
            _VERSION.fullmatch(text) if isinstance(text, str) and len(text) <= MAX_LENGTH
            else None
        )
        if match is None:
            shown = repr(text) if not isinstance(text, str) or len(text) <= MAX_LENGTH else \
                f"{text[:MAX_LENGTH]!r}... ({len(text)} characters, at most {MAX_LENGTH})"
            raise ValueError(f"not a version: {shown} (expected e.g. 1.2.3 or 1.2.3-rc1)")
        self.text = text
        numbers = [int(part) for part in match.group(1).split(".")]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()  # 1.2 == 1.2.0
        self.numbers = tuple(numbers)
        self.pre = match.group(2)

    def _key(self) -> tuple[tuple[int, ...], int, str]:
        return (self.numbers, 0 if self.pre else 1, self.pre or "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"
