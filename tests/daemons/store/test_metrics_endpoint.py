"""`/metrics` on corral-store's client URLs, as etcd serves it: Prometheus's text format,
the process metrics under etcd's names, and the gateway's replica staleness."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from corral.testing import EtcdServer


def _scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def _names(text: str) -> set[str]:
    return set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M))


def test_metrics_are_served_on_the_client_urls(url: str, tmp_path: Path) -> None:
    kind, text = _scrape(url)
    assert kind.startswith("text/plain; version=0.0.4")  # what Prometheus 2 and etcd 3.4 speak
    ours = _names(text)
    staleness = re.search(r"^corral_store_etcd_replica_staleness_seconds (\S+)$", text, re.M)
    assert staleness is not None and float(staleness.group(1)) < 5
    # the process metrics etcd's dashboards and alerts use, under etcd's own names
    process = {n for n in ours if n.startswith("process_")}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= process
    etcd = EtcdServer(tmp_path / "reference").start()
    try:
        assert process <= _names(_scrape(etcd.url)[1])
    finally:
        etcd.stop()
