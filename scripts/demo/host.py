"""One demo host as processes: a corral-fleet agent and corral-updated, with power
switches driven by signals.

    python scripts/demo/host.py SPEC.json

SPEC: {"name": ID, "slot_dir": DIR, "fleet_state": DIR, "log": FILE,
"fleet": [argv...], "updated": [argv...]}. The daemons get CORRAL_DEMO_HOST_PID in
their environment, so corral-updated's reboot command is `kill -HUP
$CORRAL_DEMO_HOST_PID`.

Signals: SIGHUP reboots (daemons stopped, unit processes killed, the boot loader
`corral.updated.firmware` picks the slot, daemons started again); SIGUSR1 pulls the
power (SIGKILL to the daemons and every unit process, nothing restarted); SIGUSR2
powers on again; SIGTERM stops everything and exits. Invariant: when this process
exits, none of the processes it started is left.
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
from typing import IO, Any

wanted: list[str] = []


def _note(log: IO[str], text: str) -> None:
    log.write(f"{time.strftime('%H:%M:%S')} host: {text}\n")
    log.flush()


def _stop(proc: subprocess.Popen[bytes], hard: bool) -> None:
    if proc.poll() is not None:
        return
    if hard:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _unit_pids(state_dir: Path) -> list[int]:
    """Supervisor and main process of every unit the process executor ran."""
    units = state_dir / "units"
    pids: list[int] = []
    for d in units.iterdir() if units.exists() else []:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((d / "supervisor.pid").read_text()))
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(json.loads((d / "status.json").read_text()).get("main_pid", 0)))
    return [p for p in pids if p > 0]


def _kill_units(state_dir: Path) -> None:
    """What a power cut does to the units: every process gone at once."""
    for pid in _unit_pids(state_dir):
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)


def _boot(spec: dict[str, Any], env: dict[str, str], log: IO[str],
          first: bool = False) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    # the first boot leaves the slots to corral-updated (--initial-version sets slot a)
    if not first:
        done = subprocess.run([sys.executable, "-m", "corral.updated.firmware", spec["slot_dir"]],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        _note(log, f"boot loader: {(done.stdout + done.stderr).strip()}")
    procs = [subprocess.Popen(spec[k], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                              start_new_session=True) for k in ("fleet", "updated")]  # fmt: skip
    _note(log, "up")
    return procs


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    env = dict(os.environ, CORRAL_DEMO_HOST_PID=str(os.getpid()), PYTHONUNBUFFERED="1")
    for sig, what in ((signal.SIGHUP, "reboot"), (signal.SIGUSR1, "power-off"),
                      (signal.SIGUSR2, "power-on"), (signal.SIGTERM, "stop"),
                      (signal.SIGINT, "stop")):  # fmt: skip
        signal.signal(sig, lambda *_, w=what: wanted.append(w))
    state = Path(spec["fleet_state"])
    with open(spec["log"], "a") as log:
        procs = _boot(spec, env, log, first=True)
        while True:
            while not wanted:
                time.sleep(0.05)
            what = wanted.pop(0)
            _note(log, what)
            if what == "power-on":
                if not procs:
                    procs = _boot(spec, env, log)
                continue
            hard = what == "power-off"
            if not hard:
                # a clean shutdown lets the supervisors stop their units first
                for p in procs:
                    _stop(p, hard=False)
            for p in procs:
                _stop(p, hard=True)
            _kill_units(state)
            procs = []
            if what == "stop":
                return 0
            if what == "reboot":
                procs = _boot(spec, env, log)


if __name__ == "__main__":
    sys.exit(main())
