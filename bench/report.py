"""The results table: one Row per figure, a Target to judge it, a Report to print and save.

This is the interface every benchmark phase reports through, today's store phases and
later ones (gateway, fleet failover, mirror sync, lookup render) alike. It is pure: no
I/O except `Report.save`/`Report.load`, so rows can be built, judged and merged in tests.

Invariants:
- A row's verdict comes only from its Target, its numbers and its errors: a row with
  a number missing (phase failed, no reference) is never "met", and a row with errors
  is "missed" whatever its numbers (a fast wrong answer is not a fast answer).
- Every row carries the run that measured it (`measured`: commit, time, load average),
  so `Report.merge`, which replaces rows of the phases a new run measured and keeps
  the others (`--only PHASE`), never stamps an older row with a newer run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Better = Literal["higher", "lower"]
Basis = Literal["ratio", "value"]


@dataclass(frozen=True)
class Target:
    """What counts as good: `ours / reference` (basis "ratio") or `ours` alone (basis
    "value", for figures with no etcd counterpart) must be >= or <= `bound`."""

    bound: float
    better: Better = "higher"
    basis: Basis = "ratio"
    source: str = ""  # the issue or README line the target comes from (bench/targets.py)

    def judge(self, ours: float | None, reference: float | None) -> bool | None:
        """True if met, False if missed, None if the numbers needed are missing."""
        value = ratio(ours, reference) if self.basis == "ratio" else ours
        if value is None:
            return None
        return value >= self.bound if self.better == "higher" else value <= self.bound

    def __str__(self) -> str:
        op = ">=" if self.better == "higher" else "<="
        return f"{'ratio' if self.basis == 'ratio' else 'value'} {op} {self.bound:g}"


def ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or reference is None or reference == 0 or not math.isfinite(ours):
        return None
    return ours / reference


@dataclass(frozen=True)
class Row:
    """One figure measured on our side and, where it has one, on the reference (etcd).

    `loadgen_cpu` is the load generator's CPU time over wall time while it drove our
    side (1.0 = one full core: then it, not the server, may be the bottleneck).
    `detail` holds extra numbers worth keeping (p99, errors, durations, ...).
    """

    phase: str
    figure: str
    unit: str
    ours: float | None
    reference: float | None = None
    target: Target | None = None
    loadgen_cpu: float | None = None
    reference_loadgen_cpu: float | None = None
    errors: int = 0
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)  # commit, started, loadavg

    @property
    def ratio(self) -> float | None:
        return ratio(self.ours, self.reference)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.errors:
            return False
        return self.target.judge(self.ours, self.reference)

    def stamped(self, run: dict[str, Any]) -> Row:
        """This row with the run that measured it, unless it already carries one."""
        return self if self.measured else replace(self, measured=dict(run))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("target") is not None:
            kwargs["target"] = Target(**kwargs["target"])
        return cls(**kwargs)


@dataclass
class Report:
    """Rows in the order phases produced them, plus facts about the run itself."""

    rows: list[Row] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def phases(self) -> list[str]:
        return list(dict.fromkeys(r.phase for r in self.rows))

    def missed(self) -> list[Row]:
        """Rows whose target is missed (errors included) or could not be judged."""
        return [r for r in self.rows if r.target is not None and r.met is not True]

    def merge(self, newer: Report) -> Report:
        """`newer`'s rows replace ours for each phase it has; other phases are kept."""
        replaced = set(newer.phases())
        # a kept row from a file older than per-row stamps takes its own file's run
        ours = {"commit": self.meta.get("commit"), "started": self.meta.get("started"),
                "loadavg": self.meta.get("loadavg_before")}  # fmt: skip
        kept = [r.stamped(ours) for r in self.rows if r.phase not in replaced]
        return Report(kept + newer.rows, {**self.meta, **newer.meta})

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls([Row.from_json(r) for r in data.get("rows", [])], dict(data.get("meta", {})))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Report:
        """The report saved at `path`; empty if there is none. Raises ValueError if the
        file is not a report."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls()
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path} is not a benchmark report: {exc}") from exc


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _pair(sides: dict[str, float | None] | None) -> str:
    """A latency held for both sides in a row's detail, as "ours/reference"."""
    if not sides:
        return "-"
    return f"{_num(sides.get('ours'))}/{_num(sides.get('reference'))}"


def render(report: Report, ours_name: str = "ours", reference_name: str = "etcd") -> str:
    """The table a reader sees: one line per row, columns aligned."""
    header = [
        "figure", "unit", ours_name, reference_name, "ratio", "target", "verdict",
        "p50 ms (ours/ref)", "p99 ms (ours/ref)", "loadgen cpu (ours/ref)", "errors",
    ]  # fmt: skip
    lines = [header]
    for r in report.rows:
        verdict = {True: "met", False: "MISSED", None: "-"}[r.met]
        if r.met is False and r.errors:
            verdict = "MISSED (errors)"
        cpu = f"{_pct(r.loadgen_cpu)}/{_pct(r.reference_loadgen_cpu)}"
        ratio_text = "-" if r.ratio is None else f"{r.ratio:.2f}"
        figure = r.figure + (f" [{r.note}]" if r.note else "")
        lines.append([
            figure, r.unit, _num(r.ours), _num(r.reference), ratio_text,
            str(r.target) if r.target else "-", verdict,
            _pair(r.detail.get("p50_ms")), _pair(r.detail.get("p99_ms")), cpu, str(r.errors),
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
