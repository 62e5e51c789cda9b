"""The logging set-up and systemd notifications every daemon shares (corral.logs,
corral.systemd), against a real pipe and a real unix datagram socket."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from corral import logs
from corral.systemd import Notifier


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_through(tmp_path: Path, fmt: str, journal: bool) -> str:
    out = tmp_path / "stderr"
    with out.open("w") as stream:
        st = os.fstat(stream.fileno())
        env = f"{st.st_dev}:{st.st_ino}" if journal else None
        old = os.environ.pop("JOURNAL_STREAM", None)
        if env:
            os.environ["JOURNAL_STREAM"] = env
        try:
            logs.configure("corral-test", "info", fmt, stream=stream)
            logging.getLogger("corral.x").warning("disk %s is full", "/var")
            logging.getLogger("corral.x").info("serving")
            logging.getLogger("corral.x").debug("not shown")
        finally:
            os.environ.pop("JOURNAL_STREAM", None)
            if old is not None:
                os.environ["JOURNAL_STREAM"] = old
    return out.read_text()


def test_under_journald_lines_carry_priorities_and_no_timestamp(tmp_path: Path) -> None:
    text = _log_through(tmp_path, "text", journal=True)
    assert text.splitlines() == ["<4>corral.x: disk /var is full", "<6>corral.x: serving"]


def test_elsewhere_lines_carry_a_timestamp_and_the_daemon(tmp_path: Path) -> None:
    lines = _log_through(tmp_path, "text", journal=False).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("corral-test WARNING corral.x: disk /var is full")
    assert lines[0][:4].isdigit()  # 2026-12-07 ...


def test_a_journal_stream_that_is_not_our_stderr_is_ignored(tmp_path: Path) -> None:
    # systemd's variable inherited by a daemon whose stderr an operator redirected
    with (tmp_path / "f").open("w") as stream:
        assert not logs.stream_is_journal(stream, "1:2")
        assert not logs.stream_is_journal(stream, "junk")


def test_json_lines_for_log_shippers(tmp_path: Path) -> None:
    lines = _log_through(tmp_path, "json", journal=True).splitlines()
    first = json.loads(lines[0])
    assert first["level"] == "warning" and first["message"] == "disk /var is full"
    assert first["daemon"] == "corral-test" and first["logger"] == "corral.x"
    assert first["time"].endswith("Z")


def test_priorities_follow_syslog() -> None:
    assert [logs.priority(v) for v in (50, 40, 30, 20, 10, 25)] == [2, 3, 4, 6, 7, 6]


def test_notifications_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000",
                      "WATCHDOG_PID": str(os.getpid())})  # fmt: skip
        assert n.ready("serving") and n.watchdog() and n.stopping()
        got = [server.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=serving", "WATCHDOG=1", "STOPPING=1"]
    assert n.ping_interval() == 2.0


def test_without_systemd_notifying_does_nothing() -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready() and n.ping_interval() is None
    # a watchdog meant for another process (a child inherited the variables) is not ours
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).ping_interval() is None
    # a socket nobody listens on is not an error
    assert not Notifier({"NOTIFY_SOCKET": "/nonexistent/socket"}).ready()


@pytest.mark.parametrize("command", ["corral-store", "corral-fleet", "corral-updated",
                                     "corral-mirror", "corralctl"])  # fmt: skip
def test_every_command_answers_version(command: str) -> None:
    from corral import __version__

    result = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{command} {__version__} (Python {sys.version.split()[0]}")


def test_the_levels_the_flag_accepts_are_pythons() -> None:
    from corral.log_flags import ACCEPTED_LEVELS

    assert set(ACCEPTED_LEVELS) == {n.lower() for n in logging.getLevelNamesMapping()}


def test_corral_mirror_builds_its_parser_without_logging() -> None:
    """Its start-up is timed against curl (make bench); only `serve` logs."""
    code = "import sys, corral.mirror.cli as c; c.build_parser(); print('logging' in sys.modules)"
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert got.stdout.strip() == "False", got.stderr
