"""`make bench` kept alive: its smoke run (every phase, tiny sizes) must run clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.phases import PHASES

ROOT = Path(__file__).resolve().parents[3]
STORE_PHASES = ["put", "get", "mixed", "latency", "watch", "memory", "restart"]


@pytest.mark.timeout(480)
def test_smoke_run_measures_every_phase_on_both_sides(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=460,  # 2-3 min at a load of 7-12 (smoke sizes); the margin is for worse
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert list(dict.fromkeys(r["phase"] for r in rows)) == list(PHASES)
    assert set(STORE_PHASES) <= set(PHASES)
    for row in rows:
        assert row["errors"] == 0, row
        assert row["ours"] is not None, row
        if "watch lag" not in row["figure"]:  # a lag may be < 0: the event beat the answer
            assert row["ours"] > 0, row
        if row["target"] and row["target"]["basis"] == "ratio":
            assert row["reference"] > 0 and row["ratio"] is not None, row
        if row["target"]:
            assert row["met"] in (True, False), row
    store_rows = [r for r in rows if r["phase"] in STORE_PHASES]
    assert sum(1 for r in store_rows if r["target"]) == 7  # one per target of the store
    # the table a reader sees has a line per figure
    for row in rows:
        assert row["figure"] in proc.stdout
    assert "loadgen cpu" in proc.stdout
