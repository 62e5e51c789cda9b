"""The demo's voice and its processes: chapters and explanations printed like a
tutorial, each command shown (`$ ...`) before it runs with its output below it, and a
table of every long-running process the demo started.

Invariant: `Processes.stop_all()` leaves none of them (nor their process groups)
running, whatever state the demo was in; the driver calls it on success, failure and
Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BOLD = "\033[1m" if sys.stdout.isatty() else ""
PLAIN = "\033[0m" if sys.stdout.isatty() else ""


class DemoError(Exception):
    """A step of the story failed: the message says which and why."""


def chapter(number: int, title: str) -> None:
    print(f"\n{BOLD}=== {number}. {title} ==={PLAIN}", flush=True)


def say(text: str) -> None:
    print(textwrap.fill(" ".join(text.split()), width=88), flush=True)


def run(argv: Sequence[str], env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 120, show: str | None = None, prompt: str = "$") -> str:  # fmt: skip
    """Show the command, run it, print and return its output (stdout and stderr)."""
    print(f"\n{BOLD}{prompt} {show or shlex.join(argv)}{PLAIN}", flush=True)
    try:
        done = subprocess.run(list(argv), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"`{show or shlex.join(argv)}` did not finish in {timeout:.0f}s") from exc
    print(done.stdout.rstrip("\n"), flush=True)
    if check and done.returncode != 0:
        raise DemoError(f"`{show or shlex.join(argv)}` exited with {done.returncode}")
    return done.stdout


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             interval: float = 0.2) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise DemoError(f"gave up after {timeout:.0f}s waiting for {what}")


class Processes:
    """Long-running children, each in its own session and with its own log file."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, argv: Sequence[str], log: Path,
              env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
        with open(log, "ab") as out:
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                    start_new_session=True)  # fmt: skip
        self.running[name] = proc
        self.logs[name] = log
        return proc

    def log_text(self, name: str) -> str:
        try:
            return self.logs[name].read_text(errors="replace")
        except (KeyError, OSError):
            return ""

    def stop(self, name: str, timeout: float = 30) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # whatever is left in its session goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def stop_all(self) -> None:
        # newest first: hosts before the mirror and the store they talk to
        for name in reversed(list(self.running)):
            self.stop(name)
