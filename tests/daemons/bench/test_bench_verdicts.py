"""Verdicts that cannot flatter: errors miss, `--check` fails on a miss, each row keeps
the run that measured it, and every target comes from the one table."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import corral
from bench import run
from bench.report import Report, Row, Target
from bench.targets import TARGETS, beyond

ROOT = Path(__file__).resolve().parents[3]


def test_a_row_with_errors_is_never_met() -> None:
    good = Row("put", "PUT", "ops/s", 5000.0, 4000.0, Target(1.0))
    assert good.met is True
    assert Row("put", "PUT", "ops/s", 5000.0, 4000.0, Target(1.0), errors=1).met is False


def test_check_names_every_missed_row_and_passes_a_clean_run() -> None:
    report = Report([
        Row("put", "PUT", "ops/s", 5000.0, 4000.0, Target(1.0)),
        Row("get", "GET", "ops/s", 3000.0, 4000.0, Target(1.0)),
        Row("mixed", "mixed", "ops/s", 5000.0, 4000.0, Target(1.0), errors=2),
        Row("watch", "fan-out p50", "ms", 1.0, 1.0),  # no target: not judged
    ])  # fmt: skip
    lines = run.check(report)
    assert len(lines) == 2
    assert lines[0].startswith("get: GET: missed")
    assert lines[1].startswith("mixed: mixed: 2 errors")
    assert run.check(Report(report.rows[:1])) == []


def test_rows_kept_by_only_keep_their_own_commit_and_load(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    old_run = {"commit": "aaaa", "started": "t0", "loadavg": [9.0, 9.0, 9.0]}
    Report([Row("put", "PUT", "ops/s", 1.0).stamped(old_run)], {"commit": "aaaa"}).save(path)
    new_run = {"commit": "bbbb", "started": "t1", "loadavg": [1.0, 1.0, 1.0]}
    newer = Report([Row("get", "GET", "ops/s", 2.0).stamped(new_run)], {"commit": "bbbb"})
    merged = Report.load(path).merge(newer)
    by_phase = {r.phase: r.measured for r in merged.rows}
    assert by_phase == {"put": old_run, "get": new_run}


def test_a_row_from_an_unstamped_file_takes_that_files_run(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    meta = {"commit": "cccc", "started": "t0", "loadavg_before": [5.0, 4.0, 3.0]}
    path.write_text(json.dumps({"meta": meta, "rows": [
        {"phase": "put", "figure": "PUT", "unit": "ops/s", "ours": 1.0}]}))  # fmt: skip
    merged = Report.load(path).merge(Report([Row("get", "GET", "ops/s", 2.0)], {"commit": "d"}))
    assert merged.rows[0].measured["commit"] == "cccc"
    assert merged.rows[0].measured["loadavg"] == [5.0, 4.0, 3.0]


def test_every_target_has_a_source_and_no_phase_builds_its_own() -> None:
    for name, target in TARGETS.items():
        assert target.source, f"target {name} says nowhere where it comes from"
    for module in (ROOT / "bench" / "phases").glob("*.py"):
        tree = ast.parse(module.read_text())
        calls = [
            n for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Target"
        ]  # fmt: skip
        assert not calls, f"{module.name} builds a Target instead of taking it from the table"


def test_the_gateway_put_target_is_the_ha_writes_issues() -> None:
    put = TARGETS["gateway-put"]
    assert (put.bound, put.better, put.basis) == (1.0, "higher", "ratio")
    assert "HA writes issue" in put.source


@pytest.mark.parametrize(
    "args",
    [
        ["--snapshot", "--smoke"],
        ["--snapshot", "--only", "put"],
        ["--snapshot", "--seconds", "1"],
        ["--snapshot", "--fleet-units", "10"],
    ],
)
def test_a_snapshot_is_only_ever_a_full_run(args: list[str]) -> None:
    snapshot = run.snapshot_path()  # the release's committed record, if there is one
    before = snapshot.read_bytes() if snapshot.exists() else None
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "--snapshot" in proc.stderr
    assert (snapshot.read_bytes() if snapshot.exists() else None) == before


def test_a_fleet_size_below_one_is_a_clear_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--fleet-machines", "0"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "--fleet-machines must be >= 1" in proc.stderr


def test_the_snapshot_is_named_after_the_projects_version() -> None:
    assert run.version() == corral.__version__
    assert 'version = {attr = "corral.__version__"}' in (ROOT / "pyproject.toml").read_text()
    assert run.snapshot_path().name == f"{run.version()}.json"


def test_fleet_failover_is_judged_against_its_runs_ttl_plus_one_second() -> None:
    assert beyond("fleet-failover", 5).bound == 6.0
    assert beyond("fleet-failover", 5).judge(5.9, None) is True
    assert beyond("fleet-failover", 5).judge(6.2, None) is False
