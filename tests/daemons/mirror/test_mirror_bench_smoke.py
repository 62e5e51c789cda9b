"""The mirror benchmark (`python -m bench.phases.mirror`) kept alive by a smoke run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_mirror_bench_smoke_run_reports_both_figures(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench.phases.mirror", "--smoke", "--work-dir",
         str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for figure in ("sync 8 MiB payload over loopback", "verify 8 MiB payload"):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(figure))
        assert ("met" in line) or ("MISSED" in line), line
    assert not (tmp_path / "work").exists()  # scratch data is gone
