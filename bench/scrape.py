"""A Prometheus stand-in for the throughput phases: GET /metrics once a second.

Operators scrape every daemon they run, so the figures that matter are taken with a
scrape going on; both sides are scraped alike (etcd serves /metrics on its client URL).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

INTERVAL = 1.0  # Prometheus's most eager usual scrape_interval


@dataclass
class Scrapes:
    """What a scraper saw: how many scrapes answered 200, how many did not, and how long
    each took."""

    ok: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@contextmanager
def scraping(url: str) -> Iterator[Scrapes]:
    """Scrapes `url`/metrics every INTERVAL seconds while the block runs."""
    seen = Scrapes()
    stop = threading.Event()

    def loop() -> None:
        with requests.Session() as session:
            while not stop.wait(INTERVAL):
                started = time.monotonic()
                try:
                    answer = session.get(f"{url}/metrics", timeout=5.0)
                    good = answer.status_code == 200 and b"# TYPE" in answer.content
                    reason = f"HTTP {answer.status_code}"
                except requests.RequestException as exc:
                    good, reason = False, str(exc)
                seen.seconds.append(time.monotonic() - started)
                if good:
                    seen.ok += 1
                else:
                    seen.failed += 1
                    seen.failures.append(reason)

    thread = threading.Thread(target=loop, name="scraper", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10.0)
