"""The health gate after booting a slot on trial: every check must pass.

Checks are shell commands (exit 0), systemd units (`systemctl is-active`) and HTTP
URLs (a 2xx answer). They are retried until all pass or the deadline passes, since
services take a moment to come up after boot; the result names the first check that
still failed, so the rollback report says why.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthChecks:
    """The checks a slot on trial must pass, and how long it has to pass them."""
    commands: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    timeout: float = 60.0  # seconds until a check that still fails is final
    interval: float = 1.0
    env: dict[str, str] = field(default_factory=dict)  # extra environment for commands


def _command(cmd: str, env: dict[str, str]) -> str | None:
    try:
        done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30,
                              env={**os.environ, **env})  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"command {cmd!r} ran over 30 s"
    if done.returncode != 0:
        out = (done.stderr or done.stdout).strip().splitlines()
        return f"command {cmd!r} exited {done.returncode}" + (f": {out[-1]}" if out else "")
    return None


def _unit(unit: str) -> str | None:
    try:
        done = subprocess.run(["systemctl", "is-active", unit], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unit {unit}: systemctl failed ({exc})"
    state = done.stdout.strip() or "unknown"
    return None if state == "active" else f"unit {unit} is {state}"


def _url(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return None if 200 <= resp.status < 300 else f"{url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url}: {exc}"


def first_failure(checks: HealthChecks) -> str | None:
    """One round of every check: None when all pass, else why the first failed."""
    for cmd in checks.commands:
        if (why := _command(cmd, checks.env)) is not None:
            return why
    for unit in checks.units:
        if (why := _unit(unit)) is not None:
            return why
    for url in checks.urls:
        if (why := _url(url)) is not None:
            return why
    return None


def run_health_gate(
    checks: HealthChecks, sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> str | None:
    """None when every check passed within the timeout, else the last failure."""
    deadline = monotonic() + checks.timeout
    while True:
        why = first_failure(checks)
        if why is None or monotonic() >= deadline:
            return why
        sleep(checks.interval)
