"""The results table's verdicts and the JSON file that later phases add rows to."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import Report, Row, Target, render


def row(phase: str, ours: float | None, reference: float | None, target: Target) -> Row:
    return Row(phase=phase, figure=f"{phase} figure", unit="x", ours=ours,
               reference=reference, target=target)  # fmt: skip


def test_throughput_ratio_must_reach_the_bound() -> None:
    assert row("put", 5000, 4600, Target(1.0)).met is True
    assert row("put", 4000, 4600, Target(1.0)).met is False
    assert row("put", 4600, 4600, Target(1.0)).met is True


def test_latency_and_memory_ratios_must_stay_under_the_bound() -> None:
    assert row("lat", 0.6, 0.53, Target(1.25, "lower")).met is True
    assert row("lat", 0.7, 0.53, Target(1.25, "lower")).met is False


def test_absolute_targets_need_no_reference() -> None:
    assert row("failover", 8.0, None, Target(10.0, "lower", "value")).met is True
    assert row("failover", 12.0, None, Target(10.0, "lower", "value")).met is False


def test_a_missing_number_is_never_met() -> None:
    assert row("put", None, 4600, Target(1.0)).met is None
    assert row("put", 5000, None, Target(1.0)).met is None
    assert row("put", 5000, 0.0, Target(1.0)).met is None


def test_table_shows_each_verdict() -> None:
    report = Report([row("put", 5000, 4600, Target(1.0)), row("get", 1, 2, Target(1.0))])
    lines = render(report, "corral-store").splitlines()
    assert "corral-store" in lines[0] and "etcd" in lines[0]
    assert "met" in lines[2] and "1.09" in lines[2]
    assert "MISSED" in lines[3] and "0.50" in lines[3]


def test_rerunning_one_phase_keeps_the_other_phases_rows(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    Report([row("put", 1, 2, Target(1.0)), row("gateway", 3, 3, Target(1.0))]).save(path)
    newer = Report([row("put", 9, 2, Target(1.0))])
    merged = Report.load(path).merge(newer)
    merged.save(path)
    again = Report.load(path)
    assert [(r.phase, r.ours) for r in again.rows] == [("gateway", 3), ("put", 9)]
    assert again.rows[1].target == Target(1.0) and again.rows[1].met is True


def test_a_file_that_is_not_a_report_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text('{"rows": [{"nonsense": true}]}')
    with pytest.raises(ValueError, match="is not a benchmark report"):
        Report.load(path)
    assert Report.load(tmp_path / "absent.json").rows == []
