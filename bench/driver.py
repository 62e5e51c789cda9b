"""Runs the load generator as its own process and returns its JSON result.

The generator must not share a process (or a GIL) with the harness or the servers, so
that its CPU time is its own and it never slows the side it measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class LoadgenError(RuntimeError):
    """The load generator failed or printed no result."""


def start(job: dict[str, Any]) -> subprocess.Popen[str]:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", json.dumps(job)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LoadgenError(f"load generator still running after {timeout:.0f}s; killed") from None
    if proc.returncode != 0:
        raise LoadgenError(f"load generator exited {proc.returncode}: {err.strip()[-2000:]}")
    try:
        return dict(json.loads(out))
    except ValueError as exc:
        raise LoadgenError(f"load generator printed no result: {out[-500:]!r}") from exc


def run(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    return finish(start(job), timeout)


def run_together(jobs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Several generators at once (loading both sides' data in parallel saves minutes;
    nothing is measured while they run)."""
    procs = [start(job) for job in jobs]
    try:
        return [finish(p, timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
