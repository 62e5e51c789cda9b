"""The gateway's benchmark kept alive: its smoke run measures both sides, error-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.etcd


@pytest.mark.timeout(240)
def test_gateway_bench_smoke_run_measures_put_get_and_one_clients_latency(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.phases.gateway", "--smoke", "--work-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("gateway ")]
    assert [line.split()[1] for line in lines] == ["PUT", "single-client", "GET"], proc.stdout
    latency = lines.pop(1)
    ours_ms, reference_ms = (float(n) for n in latency.split(" ms ")[1].split()[:2])
    assert ours_ms > 0 and reference_ms > 0, latency
    for line in lines:
        ours, reference = (int(n.replace(",", "")) for n in line.split("ops/s")[1].split()[:2])
        assert ours > 0 and reference > 0, line


@pytest.mark.timeout(120)
def test_gateway_ceiling_run_measures_etcds_json_gateway_and_v2(tmp_path: Path) -> None:
    command = ["bench.phases.gateway", "--ceiling", "--smoke", "--work-dir", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rates = {
        line.rsplit(None, 2)[0]: int(line.rsplit(None, 2)[1].replace(",", ""))
        for line in proc.stdout.splitlines()
        if line.endswith(" req/s")
    }
    assert set(rates) == {
        "v2 PUT, member 0", "v3 txn of a set, member 0", "v3 txn of a set, all 3 members",
        "v2 GET, member 0", "v3 range of a key, member 0", "v3 range of the op record, member 0",
    }, proc.stdout  # fmt: skip
    assert all(rate > 0 for rate in rates.values()), proc.stdout
