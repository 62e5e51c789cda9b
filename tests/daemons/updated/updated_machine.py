"""A simulated host for the cluster tests: runs a corral-fleet agent and corral-updated
as child processes, and "reboots" on SIGHUP.

    python updated_machine.py SPEC.json

SPEC: {"slot_dir": DIR, "fleet": [argv...], "updated": [argv...], "log": FILE}. The
daemons get CORRAL_TEST_MACHINE_PID in their environment, so corral-updated's reboot
command can be `kill -HUP $CORRAL_TEST_MACHINE_PID`. A reboot stops both daemons
(SIGTERM, then SIGKILL) and every unit process they left, lets the boot loader
(`corral.updated.firmware`) pick the slot, and starts both again. SIGTERM stops all
and exits. Every step is logged with a wall-clock time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

wanted: list[str] = []


def _note(log: Any, text: str) -> None:
    log.write(f"{time.time():.3f} {text}\n")
    log.flush()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _unit_pids(d: Path) -> tuple[int, int]:
    """(supervisor, main process) of a unit; 0 when unknown."""
    sup = main = 0
    with contextlib.suppress(OSError, ValueError):
        sup = int((d / "supervisor.pid").read_text())
    with contextlib.suppress(OSError, ValueError):
        main = int(json.loads((d / "status.json").read_text()).get("main_pid", 0))
    return sup, main


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_units(state_dir: Path) -> None:
    """What a power cycle does to the units' processes: supervisors first get SIGTERM (so
    they stop their unit), then whatever is left of either gets SIGKILL."""
    units = state_dir / "units"
    dirs = list(units.iterdir()) if units.exists() else []
    found = [_unit_pids(d) for d in dirs]
    pids = [p for pair in found for p in pair if p > 0]
    for sup, _ in found:
        if sup > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(sup, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    env = dict(os.environ, CORRAL_TEST_MACHINE_PID=str(os.getpid()), PYTHONUNBUFFERED="1")
    signal.signal(signal.SIGHUP, lambda *_: wanted.append("reboot"))
    signal.signal(signal.SIGTERM, lambda *_: wanted.append("stop"))
    with open(spec["log"], "a") as log:
        while True:
            procs = [
                subprocess.Popen(spec[k], env=env, stdout=log, stderr=log, start_new_session=True)
                for k in ("fleet", "updated")
            ]
            _note(log, "booted")
            while not wanted:
                time.sleep(0.05)
            what = wanted.pop(0)
            _note(log, f"{what}: stopping daemons")
            for p in procs:
                _stop(p)
            _kill_units(Path(spec["fleet_state"]))
            if what == "stop":
                return 0
            done = subprocess.run([sys.executable, "-m", "corral.updated.firmware",
                                   spec["slot_dir"]], capture_output=True, text=True)  # fmt: skip
            _note(log, f"firmware: {done.stdout.strip()} {done.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
