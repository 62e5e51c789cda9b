"""`make bench` kept alive: its smoke run (every phase, tiny sizes) must run clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PHASES = ["put", "get", "mixed", "latency", "watch", "memory", "restart"]
FLEET = ["fleet-failover", "fleet-scale"]  # corral-fleet alone: no etcd counterpart


@pytest.mark.timeout(240)
def test_smoke_run_measures_every_phase_on_both_sides(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert list(dict.fromkeys(r["phase"] for r in rows)) == PHASES + FLEET
    for row in rows:
        assert row["errors"] == 0, row
        assert row["ours"] > 0, row
        if row["phase"] not in FLEET:
            assert row["reference"] > 0 and row["ratio"] is not None, row
    judged = [r for r in rows if r["target"]]
    assert len(judged) == 7 + 2 and all(r["met"] in (True, False) for r in judged)
    # the table a reader sees has a line per figure with both sides' numbers
    for row in rows:
        assert row["figure"] in proc.stdout
    assert "loadgen cpu" in proc.stdout
