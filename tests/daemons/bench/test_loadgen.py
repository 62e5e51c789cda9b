"""The load generator against real etcd: it counts what the server really answered."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from corral.client import Client
from corral.testing import EtcdServer, free_port

ROOT = Path(__file__).resolve().parents[3]


def loadgen(job: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
    text = job if isinstance(job, str) else json.dumps(job)
    return subprocess.run(
        [sys.executable, "-m", "bench.loadgen", text],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def result(job: dict[str, Any]) -> dict[str, Any]:
    proc = loadgen(job)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_count_job_writes_every_key_once_with_its_value(etcd: EtcdServer) -> None:
    r = result({"url": etcd.url, "count": 300, "sequential": True, "key_prefix": "/l/",
                "connections": 8, "value_size": 64})  # fmt: skip
    assert r["ops"] == 300 and r["errors"] == 0 and r["statuses"] == {"201": 300}
    with Client(etcd.url) as client:
        listing = client.get("/l").node.nodes
        assert len(listing) == 300
        assert all(len(n.value or "") == 64 for n in listing)


def test_failed_requests_are_errors_not_throughput(etcd: EtcdServer) -> None:
    # GETs of keys that were never written: etcd answers 404 to every one
    r = result({"url": etcd.url, "seconds": 0.5, "warmup": 0.1, "put_fraction": 0.0,
                "key_prefix": "/missing/", "connections": 4})  # fmt: skip
    assert r["ops"] == 0 and r["ops_per_s"] == 0 and r["p50_ms"] is None
    assert r["errors"] >= sum(r["statuses"].values()) > 0 and set(r["statuses"]) == {"404"}
    assert "HTTP 404" in r["error_samples"][0]


def test_fanout_notifies_every_watcher_each_round(etcd: EtcdServer) -> None:
    r = result({"url": etcd.url, "mode": "fanout", "watchers": 10, "rounds": 4})
    assert r["rounds"] == 4 and r["errors"] == 0 and r["barrier"] == "stats"
    assert len(r["samples_ms"]) == 4 and r["p99_ms"] >= r["p50_ms"] > 0
    with Client(etcd.url) as client:  # the last round's write is the key's value
        assert client.get("/bench/kwatch").node.value == "r3x1"


def test_reports_its_own_cpu(etcd: EtcdServer) -> None:
    r = result({"url": etcd.url, "seconds": 0.5, "warmup": 0.1, "connections": 2})
    assert r["cpu_s"] > 0 and 0 < r["cpu_fraction"] <= 1.5


def test_bad_job_is_a_clear_error() -> None:
    for job, words in [
        ("not json", "job is not JSON"),
        ('{"url": "http://127.0.0.1:1", "seconds": 1, "count": 5}', "exactly one of"),
        ('{"url": "ftp://x", "seconds": 1}', "url must be"),
        ('{"url": "http://127.0.0.1:1", "seconds": 1, "bogus": 1}', "unknown job fields: bogus"),
    ]:
        proc = loadgen(job)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_server_is_a_clear_error() -> None:
    proc = loadgen({"url": f"http://127.0.0.1:{free_port()}", "seconds": 0.2})
    assert proc.returncode == 1
    assert "127.0.0.1" in proc.stderr and "Traceback" not in proc.stderr


def test_a_server_that_never_answers_cannot_hang_the_job() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), answers nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        started = time.monotonic()
        r = result({"url": f"http://127.0.0.1:{port}", "seconds": 0.3, "warmup": 0.0,
                    "connections": 4, "timeout": 1.0})  # fmt: skip
    assert time.monotonic() - started < 10
    assert r["ops"] == 0 and r["errors"] == 4
    assert all("timeout" in e for e in r["error_samples"])
