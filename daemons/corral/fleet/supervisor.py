"""One unit's supervisor for the `process` executor: `python -m corral.fleet.supervisor DIR`.

Runs detached from the agent (its own session), so units keep running while the agent
restarts and the agent adopts them by reading DIR. DIR holds `name` and `unit` (the
unit file), and this process writes there:
- `supervisor.pid`: its pid;
- `status.json`: {"active", "sub", "main_pid", "failures", "result"}, replaced
  atomically on every transition;
- `journal.log`: the output of every command, plus lines of its own.

Honours ExecStartPre/ExecStart/ExecStartPost/ExecStop (`-` prefix: failure ignored;
`+`, `!` are ignored, so such a command runs with no more than the unit's own
rights), Type=simple|exec|oneshot (+RemainAfterExit), Environment/EnvironmentFile
(the files win, as in systemd), WorkingDirectory (`~`: the user's home), User,
Group, SupplementaryGroups, UMask, NoNewPrivileges, Restart=/RestartSec=,
TimeoutStopSec. A unit with any other [Service] directive is refused before anything
runs (directives.py), with the reason in `status.json`. Every command runs in its
own process group, and stopping kills the whole group: SIGTERM, then SIGKILL once
TimeoutStopSec has passed. SIGTERM to the supervisor means "stop the unit".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import faulthandler
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from corral.duration import DurationError, parse_duration
from corral.fleet.directives import refused
from corral.fleet.execline import (
    Command,
    ExecError,
    parse_command,
    parse_environment,
    parse_environment_file,
)
from corral.fleet.identity import Identity, IdentityError, resolve
from corral.fleet.names import expand_specifiers
from corral.fleet.unitfile import UnitFile, UnitFileError, parse_unit

RESTART_POLICIES = ("no", "always", "on-success", "on-failure", "on-abnormal", "on-abort")
DEFAULT_UMASK = 0o022  # systemd's default UMask=
PR_SET_NO_NEW_PRIVS = 38  # <linux/prctl.h>
TRUE = ("yes", "true", "1", "on")


class Supervisor:
    """Runs one unit's commands through their life cycle, writing its status and journal."""

    def __init__(self, unit_dir: Path, stopping: threading.Event | None = None) -> None:
        self.dir = unit_dir
        self.name = (unit_dir / "name").read_text().strip()
        self.stopping = stopping or threading.Event()
        self.in_stop = False
        self.failures = 0
        self.reason = ""  # why the last run failed, for `corralctl unit status`
        self.main: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] = open(unit_dir / "journal.log", "ab", buffering=0)  # noqa: SIM115
        prior = self._read_status()
        self.failures = int(prior.get("failures", 0)) if prior else 0

    # -- status and journal --------------------------------------------------------

    def _read_status(self) -> dict[str, Any]:
        try:
            data = json.loads((self.dir / "status.json").read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def status(self, active: str, sub: str, result: str = "success") -> None:
        data = {
            "active": active,
            "sub": sub,
            "main_pid": self.main.pid if self.main and self.main.poll() is None else 0,
            "failures": self.failures,
            "result": result,
            "reason": self.reason,
            "since": time.time(),
        }
        tmp = self.dir / "status.json.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.dir / "status.json")

    def failed_because(self, text: str, ignored: bool = False) -> None:
        self.note(text)
        if not ignored:
            self.reason = text

    def note(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.log.write(f"{stamp} corral-fleet[{os.getpid()}]: {text}\n".encode())

    # -- configuration -----------------------------------------------------------------

    def configure(self) -> None:
        unit = parse_unit((self.dir / "unit").read_text())
        self.unit = unit
        svc = "Service"
        problems = refused(unit)
        if problems:
            raise ExecError("; ".join(problems))
        self.type = unit.last(svc, "Type", "simple") or "simple"
        self.remain = (unit.last(svc, "RemainAfterExit", "no") or "no").lower() in TRUE
        self.restart = unit.last(svc, "Restart", "no") or "no"
        if self.restart not in RESTART_POLICIES:
            raise ExecError(f"Restart={self.restart} is not one of {', '.join(RESTART_POLICIES)}")
        self.restart_sec = _time_span(unit.last(svc, "RestartSec"), "RestartSec", 0.1)
        self.timeout_stop = _time_span(unit.last(svc, "TimeoutStopSec"), "TimeoutStopSec", 90.0)
        self.identity: Identity = resolve(unit)
        self.umask = _umask(unit.last(svc, "UMask"))
        self.no_new_privs = (unit.last(svc, "NoNewPrivileges", "no") or "no").lower() in TRUE
        self.env = self._environment(unit)
        self.cwd: str | None = self._working_directory(unit)
        if not unit.values(svc, "ExecStart") and self.type != "oneshot":
            raise ExecError("no ExecStart= in [Service]")

    def _environment(self, unit: UnitFile) -> dict[str, str]:
        """PATH, the identity's variables, Environment= then EnvironmentFile= (the files
        win, as in systemd)."""
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
        env.update(self.identity.env)
        env.update(
            parse_environment(
                [expand_specifiers(v, self.name) for v in unit.values("Service", "Environment")]
            )
        )
        for value in unit.values("Service", "EnvironmentFile"):
            optional = value.startswith("-")
            path = Path(expand_specifiers(value.lstrip("-"), self.name))
            try:
                env.update(parse_environment_file(path.read_text()))
            except OSError as exc:
                if not optional:
                    raise ExecError(f"EnvironmentFile={value}: {exc.strerror}") from exc
        return env

    def _working_directory(self, unit: UnitFile) -> str | None:
        """WorkingDirectory= (`~`: the unit user's home); None when not set, or when a
        `-`-prefixed one does not exist."""
        wd = unit.last("Service", "WorkingDirectory")
        if not wd:
            return None
        optional = wd.startswith("-")
        path = expand_specifiers(wd.lstrip("-"), self.name)
        if path == "~":
            path = self.identity.home or os.path.expanduser("~")
        if os.path.isdir(path):
            return path
        if not optional:
            raise ExecError(f"WorkingDirectory={wd}: no such directory")
        return None

    def commands(self, key: str) -> list[Command]:
        env = dict(self.env)
        if self.main is not None:
            env["MAINPID"] = str(self.main.pid)
        return [parse_command(v, self.name, env) for v in self.unit.values("Service", key)]

    # -- running -----------------------------------------------------------------------

    def spawn(self, cmd: Command) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if self.main is not None:
            env["MAINPID"] = str(self.main.pid)
        who = self.identity
        # as another user, enter the directory as that user (after the switch), so
        # that it cannot reach a directory it could not reach on its own
        chdir_late = who.uid is not None and self.cwd is not None
        try:
            return subprocess.Popen(
                list(cmd.argv),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=None if chdir_late else self.cwd,
                start_new_session=True,  # its own process group, killed as a whole
                user=who.uid,
                group=who.gid,
                extra_groups=who.groups,
                umask=self.umask,
                preexec_fn=self._in_child(self.cwd if chdir_late else None),
            )
        except subprocess.SubprocessError as exc:  # raised by _in_child
            raise OSError(
                errno.EACCES,
                f"cannot enter WorkingDirectory={self.cwd} as uid {who.uid}"
                if chdir_late
                else str(exc),
            ) from exc

    def _in_child(self, cwd: str | None) -> Callable[[], None] | None:
        """What the child does after taking the unit's user, before exec."""
        no_new_privs = self.no_new_privs
        if cwd is None and not no_new_privs:
            return None

        def setup() -> None:
            if cwd is not None:
                os.chdir(cwd)
            if no_new_privs:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

        return setup

    def run_to_end(self, cmd: Command, timeout: float = float("inf")) -> bool:
        """Run a helper command; True when it succeeded or its failure is ignored."""
        try:
            proc = self.spawn(cmd)
        except OSError as exc:
            self.failed_because(f"{cmd.argv[0]}: {exc.strerror}", cmd.ignore_failure)
            return cmd.ignore_failure
        code = self.wait(proc, timeout)
        if code != 0:
            self.failed_because(f"{' '.join(cmd.argv)}: exited with {code}", cmd.ignore_failure)
        return code == 0 or cmd.ignore_failure

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = float("inf")) -> int:
        """Wait for `proc`; a stop request stops the main process (ExecStop, then the
        group) or cuts a start helper short, but lets ExecStop helpers finish."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return proc.wait(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    kill_group(proc.pid, signal.SIGKILL)
                    return proc.wait()
                if self.stopping.is_set() and not self.in_stop:
                    if proc is self.main:
                        self.stop_main()
                        return proc.wait()
                    kill_group(proc.pid, signal.SIGTERM)

    def start_once(self) -> str:
        """One activation. Returns "success", "exit-code", "signal" or "resources"."""
        self.status("activating", "start-pre")
        for cmd in self.commands("ExecStartPre"):
            if not self.run_to_end(cmd):
                return "exit-code"
            if self.stopping.is_set():
                return "success"
        if self.type == "oneshot":
            return self._start_oneshot()
        (main,) = self.commands("ExecStart")[-1:]
        if self.stopping.is_set():
            return "success"
        try:
            self.main = self.spawn(main)
        except OSError as exc:
            self.failed_because(f"{main.argv[0]}: {exc.strerror}")
            return "resources"
        self.status("activating", "start-post")
        for cmd in self.commands("ExecStartPost"):
            if not self.run_to_end(cmd):
                self.stop_main()
                return "exit-code"
        self.status("active", "running")
        self.note(f"Started {self.name}.")
        code = self.wait(self.main)
        kill_group(self.main.pid, signal.SIGKILL)  # leftovers of the main process
        if self.stopping.is_set():
            return "success"
        self.note(f"{self.name}: main process exited, status={code}")
        if code == 0 or main.ignore_failure:
            return "success"
        self.reason = f"main process exited, status={code}"
        return "signal" if code < 0 else "exit-code"

    def _start_oneshot(self) -> str:
        """Type=oneshot: every ExecStart= then ExecStartPost= to its end; with
        RemainAfterExit= the unit then stays active until asked to stop."""
        self.status("activating", "start")
        for key in ("ExecStart", "ExecStartPost"):
            for cmd in self.commands(key):
                if not self.run_to_end(cmd):
                    return "exit-code"
        if self.remain:
            self.status("active", "exited")
            self.stopping.wait()
        return "success"

    def stop_main(self) -> None:
        if self.main is None or self.main.poll() is not None:
            return
        self.status("deactivating", "stop")
        self.in_stop = True
        for cmd in self.commands("ExecStop"):
            self.run_to_end(cmd, self.timeout_stop)
        if self.main.poll() is None:
            self.status("deactivating", "stop-sigterm")
            kill_group(self.main.pid, signal.SIGTERM)
            try:
                self.main.wait(timeout=self.timeout_stop)
            except subprocess.TimeoutExpired:
                self.note(f"{self.name}: stop timed out, killing")
                kill_group(self.main.pid, signal.SIGKILL)
                self.main.wait()

    def should_restart(self, result: str) -> bool:
        if self.stopping.is_set():
            return False
        return {
            "no": False,
            "always": True,
            "on-success": result == "success",
            "on-failure": result != "success",
            "on-abnormal": result == "signal",
            "on-abort": result == "signal",
        }[self.restart]

    def run(self) -> int:
        (self.dir / "supervisor.pid").write_text(str(os.getpid()))
        try:
            self.configure()
        except (ExecError, IdentityError, UnitFileError, OSError) as exc:
            self.note(f"cannot start {self.name}: {exc}")
            self.reason = f"refused: {exc}"
            self.failures += 1
            self.status("failed", "failed", "resources")
            return 1
        while True:
            self.note(f"Starting {self.name}...")
            self.reason = ""
            result = self.start_once()
            if result != "success":
                self.failures += 1
            if self.should_restart(result):
                self.status("activating", "auto-restart", result)
                if self.stopping.wait(self.restart_sec):
                    break
                continue
            break
        if self.stopping.is_set():
            self.note(f"Stopped {self.name}.")
            self.status("inactive", "dead")
            return 0
        if result == "success":
            self.status("inactive", "dead")
            return 0
        self.note(f"{self.name}: failed with result '{result}'")
        self.status("failed", "failed", result)
        return 1


def _time_span(text: str | None, key: str, default: float) -> float:
    """A [Service] time span as systemd reads it (corral.duration), `infinity`
    included; unset or empty is the default."""
    if text is None or not text.strip():
        return default
    try:
        return parse_duration(text, infinity=True)
    except DurationError as exc:
        raise ExecError(f"{key}={text}: {exc}") from None


def _umask(text: str | None) -> int:
    if text is None or not text.strip():
        return DEFAULT_UMASK
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise ExecError(f"UMask={text} is not an octal mode")
    return value


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m corral.fleet.supervisor UNIT_DIR", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stopping.set()

    # before anything else: a stop asked for during start-up must not be lost
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    faulthandler.register(signal.SIGUSR1)  # stack dump on demand, into supervisor.log
    return Supervisor(Path(args[0]), stopping).run()


if __name__ == "__main__":
    sys.exit(main())
