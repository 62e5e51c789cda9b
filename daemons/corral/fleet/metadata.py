"""MachineMetadata requirements: fleet's semantics, plus negation and comparisons.

fleet's rule, kept exactly: every `key=value` term (whether on one line or on
repeated `MachineMetadata=` lines) is grouped by key; a machine qualifies when, for
every key, its value is one of the values asked for that key. So terms on different
keys are ANDed, repeated terms on one key are ORed.

Beyond fleet: `key!=value` (the machine's value, if any, must differ: a machine
without the key qualifies), and numeric `key>=n`, `key<=n`, `key>n`, `key<n` (the
machine must have the key with a number satisfying it). Every non-`=` term is ANDed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TERM = re.compile(r"^([A-Za-z0-9_.\-/]+)\s*(!=|>=|<=|=|>|<)\s*(.*)$")
OPERATORS = ("=", "!=", ">=", "<=", ">", "<")


class MetadataError(ValueError):
    """A requirement or a metadata string that cannot be parsed."""


@dataclass(frozen=True)
class Term:
    """One `key<op>value` term of a MachineMetadata requirement."""
    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


@dataclass(frozen=True)
class Requirement:
    """All MachineMetadata terms of a unit, grouped as the matching rule needs."""

    equal: Mapping[str, frozenset[str]] = field(default_factory=dict)
    others: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.equal or self.others)

    def matches(self, metadata: Mapping[str, str]) -> bool:
        for key, allowed in self.equal.items():
            if metadata.get(key) not in allowed:
                return False
        return all(_holds(t, metadata) for t in self.others)


def parse_terms(lines: Iterable[str]) -> list[Term]:
    """Each line holds whitespace-separated (optionally quoted) terms."""
    terms: list[Term] = []
    for line in lines:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise MetadataError(f"MachineMetadata={line}: {exc}") from exc
        for word in words:
            match = _TERM.match(word)
            if not match or not match.group(3):
                raise MetadataError(
                    f"MachineMetadata term {word!r}: expected KEY=VALUE, KEY!=VALUE, "
                    "or KEY>=N, KEY<=N, KEY>N, KEY<N"
                )
            term = Term(match.group(1), match.group(2), match.group(3))
            if term.op in (">=", "<=", ">", "<") and _number(term.value) is None:
                raise MetadataError(f"MachineMetadata term {word!r}: {term.op} needs a number")
            terms.append(term)
    return terms


def requirement(terms: Iterable[Term]) -> Requirement:
    equal: dict[str, set[str]] = {}
    others: list[Term] = []
    for t in terms:
        if t.op == "=":
            equal.setdefault(t.key, set()).add(t.value)
        else:
            others.append(t)
    return Requirement({k: frozenset(v) for k, v in equal.items()}, tuple(others))


def parse_metadata(text: str) -> dict[str, str]:
    """`region=eu,disk=ssd` (the --metadata flag) -> {"region": "eu", "disk": "ssd"}."""
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not _TERM.match(f"{key.strip()}=x"):
            raise MetadataError(f"metadata {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def format_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(metadata.items()))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _holds(term: Term, metadata: Mapping[str, str]) -> bool:
    have = metadata.get(term.key)
    if term.op == "!=":
        return have != term.value
    if have is None:
        return False
    a, b = _number(have), _number(term.value)
    if a is None or b is None:
        return False
    if term.op == ">=":
        return a >= b
    if term.op == "<=":
        return a <= b
    if term.op == ">":
        return a > b
    return a < b
