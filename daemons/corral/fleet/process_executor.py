"""The `process` executor: units run under `corral.fleet.supervisor`, one detached
supervisor process per started unit, for hosts without systemd.

Layout under STATE_DIR/units/<name>/: `name`, `unit` (contents), and what the
supervisor writes (`supervisor.pid`, `status.json`, `journal.log`). A supervisor
outlives the agent, so an agent restarted on the same state dir finds its units
running and adopts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from corral.fleet.executor import UnitStatus
from corral.fleet.spec import content_hash

RUNNING = ("active", "activating", "deactivating")


class ProcessExecutor:
    """Runs each unit under a detached supervisor process, for hosts without systemd."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "units"
        self.root.mkdir(parents=True, exist_ok=True)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping: set[str] = set()  # asked to stop; a start must wait for the exit

    def _dir(self, name: str) -> Path:
        return self.root / name

    def loaded(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for d in self.root.iterdir():
            try:
                out[(d / "name").read_text().strip()] = content_hash((d / "unit").read_text())
            except OSError:
                continue  # half-written: the agent loads it again
        return out

    def load(self, name: str, contents: str) -> None:
        d = self._dir(name)
        d.mkdir(parents=True, exist_ok=True)
        (d / "unit").write_text(contents)
        (d / "name").write_text(name)

    def unload(self, name: str) -> bool:
        self.stop(name)
        if self.supervisor_pid(name):
            return False  # still stopping: the agent asks again on its next pass
        shutil.rmtree(self._dir(name), ignore_errors=True)
        self._children.pop(name, None)
        self._stopping.discard(name)
        return True

    def start(self, name: str) -> bool:
        if self.supervisor_pid(name):
            # running already (adopted), or still stopping: then start on a later pass
            return name not in self._stopping
        self._stopping.discard(name)
        d = self._dir(name)
        with contextlib.suppress(FileNotFoundError):
            (d / "supervisor.pid").unlink()
        with open(d / "supervisor.log", "ab") as log:
            self._children[name] = subprocess.Popen(
                [sys.executable, "-m", "corral.fleet.supervisor", str(d)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the agent, as systemd units do
            )
        (d / "supervisor.pid").write_text(str(self._children[name].pid))
        return True

    def stop(self, name: str) -> None:
        pid = self.supervisor_pid(name)
        if pid and name not in self._stopping:
            self._stopping.add(name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def supervisor_pid(self, name: str) -> int:
        """The pid of the unit's live supervisor, or 0."""
        child = self._children.get(name)
        if child is not None and child.poll() is not None:
            del self._children[name]  # reaped
            return 0
        try:
            pid = int((self._dir(name) / "supervisor.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return 0
        # a recycled pid is not our supervisor
        ours = b"corral.fleet.supervisor" in cmdline and str(self._dir(name)).encode() in cmdline
        return pid if ours else 0

    def status(self, name: str) -> UnitStatus:
        d = self._dir(name)
        if not (d / "unit").exists():
            return UnitStatus(load="not-found")
        try:
            data = json.loads((d / "status.json").read_text())
            active = str(data.get("active", "inactive"))
            sub = str(data.get("sub", "dead"))
            failures = int(data.get("failures", 0))
            pid = int(data.get("main_pid", 0))
            reason = str(data.get("reason", ""))
        except (OSError, ValueError, TypeError, AttributeError):
            active, sub, failures, pid, reason = "inactive", "dead", 0, 0, ""
        if active in RUNNING and not self.supervisor_pid(name):
            # the supervisor died without saying so (SIGKILL, host restart)
            return UnitStatus(
                "loaded", "failed", "failed", failures, 0, lost=True, reason="supervisor lost"
            )
        return UnitStatus("loaded", active, sub, failures, pid, reason=reason)

    def journal(self, name: str, lines: int, follow: bool) -> Iterator[str]:
        path = self._dir(name) / "journal.log"
        try:
            with open(path, errors="replace") as f:
                tail = f.read().splitlines()[-lines:] if lines > 0 else []
                yield from tail
                f.seek(0, os.SEEK_END)
                while follow and path.exists():
                    line = f.readline()
                    if line:
                        yield line.rstrip("\n")
                    else:
                        time.sleep(0.1)
        except FileNotFoundError:
            return
