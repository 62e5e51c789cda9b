"""systemd's unit file syntax, parsed as systemd parses it (pure, no I/O).

Rules kept from systemd (man systemd.syntax): `#` and `;` start comment lines;
`[Section]` headers; `Key=Value` with whitespace around both trimmed; a line ending in
a backslash continues on the next line (the backslash becomes a space, and comment
lines inside a continuation are skipped); a key may repeat, and an empty assignment
(`ExecStart=`) resets the list built so far. Order of assignments is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class UnitFileError(ValueError):
    """The text is not a unit file; the message names the line."""


@dataclass
class UnitFile:
    """Sections in file order, each a list of (key, value) assignments in order."""

    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[str]:
        """Every value of `key`, after applying empty-assignment resets."""
        out: list[str] = []
        for k, v in self.sections.get(section, []):
            if k == key:
                if v == "":
                    out = []
                else:
                    out.append(v)
        return out

    def last(self, section: str, key: str, default: str | None = None) -> str | None:
        """The value that wins for a single-valued key (the last assignment)."""
        found = self.values(section, key)
        return found[-1] if found else default

    def keys(self, section: str) -> list[str]:
        return [k for k, _ in self.sections.get(section, [])]


def parse_unit(text: str) -> UnitFile:
    unit = UnitFile()
    current: str | None = None
    pending = ""  # a value being continued with trailing backslashes
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if pending:
            if line.startswith(("#", ";")):
                continue
            pending, done = _continue(pending + " " + line)
            if done:
                _assign(unit, current, pending, pending_line)
                pending = ""
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise UnitFileError(f"line {number}: bad section header {line!r}")
            current = line[1:-1]
            unit.sections.setdefault(current, [])
            continue
        text_line, done = _continue(line)
        if done:
            _assign(unit, current, text_line, number)
        else:
            pending, pending_line = text_line, number
    if pending:
        _assign(unit, current, pending, pending_line)
    return unit


def _continue(line: str) -> tuple[str, bool]:
    """Strip a trailing backslash; report whether the logical line is complete."""
    if line.endswith("\\"):
        return line[:-1].rstrip(), False
    return line, True


def _assign(unit: UnitFile, section: str | None, line: str, number: int) -> None:
    if section is None:
        raise UnitFileError(f"line {number}: assignment outside of a section: {line!r}")
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UnitFileError(f"line {number}: expected Key=Value, got {line!r}")
    unit.sections[section].append((key, value.strip()))
