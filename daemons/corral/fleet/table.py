"""fleetctl's table output: aligned columns, `--no-legend`, `--fields`."""

from __future__ import annotations

import sys
from collections.abc import Sequence


class FieldError(ValueError):
    """--fields named a column that does not exist."""


def choose_fields(requested: str | None, default: Sequence[str], known: Sequence[str]) -> list[str]:
    if not requested:
        return list(default)
    fields = [f.strip() for f in requested.split(",") if f.strip()]
    bad = [f for f in fields if f not in known]
    if bad or not fields:
        raise FieldError(
            f"invalid field(s) {', '.join(bad) or '(none)'}; known fields: {', '.join(known)}"
        )
    return fields


def print_table(fields: Sequence[str], rows: Sequence[dict[str, str]], legend: bool) -> None:
    lines = [[r.get(f, "-") for f in fields] for r in rows]
    if legend:
        lines.insert(0, [f.upper() for f in fields])
    widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(fields))]
    for line in lines:
        cells = [c.ljust(w) for c, w in zip(line, widths, strict=True)]
        sys.stdout.write("\t".join(cells).rstrip() + "\n")
