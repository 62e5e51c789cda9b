"""Finding an agent's /metrics: the URL it logged."""

from __future__ import annotations

import re
from pathlib import Path

from corral.testing import wait_until


def metrics_url(log: Path, timeout: float = 20) -> str:
    """The URL a daemon logged as `serving metrics on URL`."""
    found: list[str] = []

    def logged() -> bool:
        m = re.search(r"serving metrics on (http://\S+)", log.read_text(errors="replace"))
        found[:] = [m.group(1)] if m else []
        return bool(found)

    wait_until(logged, timeout, f"metrics URL in {log}")
    return found[0]
