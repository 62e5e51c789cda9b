"""Scraping a daemon's /metrics over HTTP, as Prometheus does, for assertions."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from corral.testing import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_url(log: Path, timeout: float = 20) -> str:
    """The URL a daemon logged as `serving metrics on URL`."""
    found: list[str] = []

    def logged() -> bool:
        m = re.search(r"serving metrics on (http://\S+)", log.read_text(errors="replace"))
        found[:] = [m.group(1)] if m else []
        return bool(found)

    wait_until(logged, timeout, f"metrics URL in {log}")
    return found[0]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))
