"""The gateway's benchmark kept alive: its smoke run measures both sides, error-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.etcd


@pytest.mark.timeout(240)
def test_gateway_bench_smoke_run_measures_put_and_get(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.phases.gateway", "--smoke", "--work-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("gateway ")]
    assert [line.split()[1] for line in lines] == ["PUT", "GET"], proc.stdout
    for line in lines:
        ours, reference = (int(n.replace(",", "")) for n in line.split("ops/s")[1].split()[:2])
        assert ours > 0 and reference > 0, line
