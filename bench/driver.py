"""Runs the load generator as its own process and returns its JSON result.

The generator must not share a process (or a GIL) with the harness or the servers, so
that its CPU time is its own and it never slows the side it measures. Its result comes
back through a file it renames into place when complete: a result is whole or absent
(a large one through a pipe once arrived cut at 64 KiB on a loaded machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class LoadgenError(RuntimeError):
    """The load generator failed or wrote no result."""


@dataclass
class Running:
    proc: subprocess.Popen[str]
    result_path: Path


def start(job: dict[str, Any]) -> Running:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    fd, name = tempfile.mkstemp(prefix="corral-loadgen-", suffix=".json")
    os.close(fd)
    result_path = Path(name)
    result_path.unlink()  # the generator creates it only once the result is complete
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", json.dumps(job), str(result_path)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Running(proc, result_path)


def finish(running: Running, timeout: float) -> dict[str, Any]:
    proc = running.proc
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LoadgenError(f"load generator still running after {timeout:.0f}s; killed") from None
    try:
        if proc.returncode != 0:
            raise LoadgenError(f"load generator exited {proc.returncode}: {err.strip()[-2000:]}")
        try:
            return dict(json.loads(running.result_path.read_text()))
        except (OSError, ValueError) as exc:
            raise LoadgenError(f"load generator wrote no result: {exc}") from exc
    finally:
        running.result_path.unlink(missing_ok=True)


def run(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    return finish(start(job), timeout)


def run_together(jobs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Several generators at once (loading both sides' data in parallel saves minutes;
    nothing is measured while they run)."""
    started = [start(job) for job in jobs]
    try:
        return [finish(r, timeout) for r in started]
    finally:
        for r in started:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
            r.result_path.unlink(missing_ok=True)
