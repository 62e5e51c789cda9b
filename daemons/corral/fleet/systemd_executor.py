"""The `systemd` executor: units are files under /run/systemd/system (runtime, gone at
reboot like fleet's), driven with systemctl, read with `systemctl show`, logged by
journald.

The names of the units this agent wrote are kept in STATE_DIR/systemd-units, so the
agent never touches unit files it did not write. `parse_show()` is pure.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from corral.fleet.executor import UnitStatus
from corral.fleet.spec import content_hash

SHOW_PROPERTIES = "LoadState,ActiveState,SubState,MainPID,NRestarts,Result"


def parse_show(text: str) -> UnitStatus:
    """`systemctl show -p ...` output (KEY=VALUE lines) as a UnitStatus."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    load = props.get("LoadState", "not-found")
    active = props.get("ActiveState", "inactive")
    restarts = props.get("NRestarts", "0")
    failures = int(restarts) if restarts.isdigit() else 0
    if active == "failed":
        failures += 1
    pid = props.get("MainPID", "0")
    result = props.get("Result", "success")
    return UnitStatus(
        load="loaded" if load == "loaded" else load,
        active=active,
        sub=props.get("SubState", "dead"),
        failures=failures,
        main_pid=int(pid) if pid.isdigit() else 0,
        reason=f"result: {result}" if active == "failed" and result != "success" else "",
    )


class SystemdExecutor:
    """Runs units as runtime systemd units, touching only the files it wrote."""

    def __init__(self, unit_dir: Path, state_dir: Path) -> None:
        self.unit_dir = unit_dir
        self.mine = state_dir / "systemd-units"
        self.mine.mkdir(parents=True, exist_ok=True)

    def _systemctl(self, *args: str) -> str:
        done = subprocess.run(
            ["systemctl", *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0 and args[0] not in ("show", "stop"):
            raise OSError(f"systemctl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def loaded(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for marker in self.mine.iterdir():
            with contextlib.suppress(OSError):
                out[marker.name] = content_hash((self.unit_dir / marker.name).read_text())
        return out

    def load(self, name: str, contents: str) -> None:
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        (self.mine / name).touch()
        (self.unit_dir / name).write_text(contents)
        self._systemctl("daemon-reload")

    def unload(self, name: str) -> bool:
        self._systemctl("stop", name)
        (self.unit_dir / name).unlink(missing_ok=True)
        (self.mine / name).unlink(missing_ok=True)
        self._systemctl("daemon-reload")
        return True

    def start(self, name: str) -> bool:
        self._systemctl("start", "--no-block", name)  # queued after a pending stop
        return True

    def stop(self, name: str) -> None:
        self._systemctl("stop", "--no-block", name)

    def status(self, name: str) -> UnitStatus:
        return parse_show(self._systemctl("show", "-p", SHOW_PROPERTIES, name))

    def journal(self, name: str, lines: int, follow: bool) -> Iterator[str]:
        argv = ["journalctl", "--no-pager", "-o", "short-iso", "-u", name, "-n", str(lines)]
        if follow:
            argv.append("-f")
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    yield line.rstrip("\n")
            finally:
                proc.kill()
