"""The process executor and its supervisor, run for real (no store involved)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fleet_harness import _alive, unload_all, wait_state

from corral.fleet.process_executor import ProcessExecutor
from corral.testing import wait_until


def test_exec_lines_environment_and_working_directory(executor, tmp_path: Path) -> None:
    out = tmp_path / "out"
    work = tmp_path / "work"
    work.mkdir()
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE='file value'\n")
    executor.load(
        "app@blue.service",
        f"""[Service]
Environment="GREETING=hello world" COLOUR=%i
EnvironmentFile={envfile}
EnvironmentFile=-{tmp_path}/missing
WorkingDirectory={work}
ExecStartPre=-/bin/false
ExecStartPre=/bin/sh -c 'echo pre $$GREETING >> {out}'
ExecStart=/bin/sh -c 'echo main "$$COLOUR" "$$FROM_FILE" $$(pwd) >> {out}; exec sleep 60'
ExecStartPost=/bin/sh -c 'echo post >> {out}'
ExecStop=/bin/sh -c 'echo stop $$MAINPID >> {out}'
""".replace("$$", "$"),
    )
    executor.start("app@blue.service")
    wait_state(executor, "app@blue.service", "active")
    status = executor.status("app@blue.service")
    assert status.sub == "running" and _alive(status.main_pid)
    executor.stop("app@blue.service")
    wait_state(executor, "app@blue.service", "inactive")
    lines = out.read_text().splitlines()
    assert lines[0] == "pre hello world"
    # ExecStartPost runs beside the main process, as in systemd
    assert sorted(lines[1:3]) == [f"main blue file value {work}", "post"]
    assert lines[3:] == [f"stop {status.main_pid}"]
    assert not _alive(status.main_pid)


# systemd's long unit names are time spans too (`0.5seconds` was refused)
@pytest.mark.parametrize("timeout", ["500ms", "0.5seconds"])
def test_stop_kills_the_whole_group_after_the_timeout(
    executor, tmp_path: Path, timeout: str
) -> None:
    child_pid = tmp_path / "child"
    executor.load(
        "stubborn.service",
        f"[Service]\nTimeoutStopSec={timeout}\n"
        f'ExecStart=/bin/sh -c \'trap "" TERM; sleep 300 & echo $! > {child_pid}; '
        "while true; do sleep 0.1; done'\n",
    )
    executor.start("stubborn.service")
    wait_state(executor, "stubborn.service", "active")
    wait_until(lambda: child_pid.exists() and child_pid.read_text().strip() != "", 5, "child")
    child = int(child_pid.read_text())
    main = executor.status("stubborn.service").main_pid
    executor.stop("stubborn.service")
    wait_state(executor, "stubborn.service", "inactive")
    assert not _alive(main) and not _alive(child)
    assert "stop timed out, killing" in "\n".join(executor.journal("stubborn.service", 50, False))


def test_restart_policy_counts_failures_and_failed_state(executor) -> None:
    executor.load(
        "flaky.service",
        "[Service]\nRestart=on-failure\nRestartSec=100ms\nExecStart=/bin/sh -c 'exit 3'\n",
    )
    executor.start("flaky.service")
    wait_until(lambda: executor.status("flaky.service").failures >= 3, 10, "3 failures")
    executor.stop("flaky.service")
    wait_state(executor, "flaky.service", "inactive")
    executor.load("once.service", "[Service]\nExecStart=/bin/sh -c 'echo bye; exit 7'\n")
    executor.start("once.service")
    wait_state(executor, "once.service", "failed")
    status = executor.status("once.service")
    assert (status.sub, status.failures) == ("failed", 1)
    log = list(executor.journal("once.service", 10, False))
    assert "bye" in log and any("status=7" in line for line in log)


def test_unit_errors_show_as_failed_with_a_reason(executor) -> None:
    executor.load("bad.service", "[Service]\nRestart=sometimes\nExecStart=/bin/true\n")
    executor.start("bad.service")
    wait_state(executor, "bad.service", "failed")
    assert any("Restart=sometimes" in line for line in executor.journal("bad.service", 5, False))
    executor.load("nobin.service", "[Service]\nExecStart=/nonexistent/binary\n")
    executor.start("nobin.service")
    wait_state(executor, "nobin.service", "failed")


def test_units_outlive_a_new_executor_and_a_killed_supervisor_is_reported(tmp_path: Path) -> None:
    first = ProcessExecutor(tmp_path / "state")
    first.load("keep.service", "[Service]\nExecStart=/bin/sleep 60\n")
    first.start("keep.service")
    wait_state(first, "keep.service", "active")
    main = first.status("keep.service").main_pid
    second = ProcessExecutor(tmp_path / "state")  # as after an agent restart
    try:
        assert list(second.loaded()) == ["keep.service"]
        assert second.status("keep.service").main_pid == main
        second.start("keep.service")  # already running: nothing happens
        assert second.status("keep.service").main_pid == main
        sup = second.supervisor_pid("keep.service")
        os.kill(sup, 9)
        wait_until(lambda: second.status("keep.service").lost, 5, "supervisor gone")
        os.killpg(main, 9)
    finally:
        unload_all(second)
        unload_all(first)


def test_oneshot_units_run_to_completion(executor, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    executor.load(
        "setup.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"ExecStart=/bin/sh -c 'echo one >> {marks}'\nExecStart=/bin/sh -c 'echo two >> {marks}'\n",
    )
    executor.start("setup.service")
    wait_until(lambda: executor.status("setup.service").sub == "exited", 10, "exited")
    assert executor.status("setup.service").active == "active"
    assert marks.read_text().split() == ["one", "two"]
    executor.stop("setup.service")
    wait_state(executor, "setup.service", "inactive")
    executor.load("task.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n")
    executor.start("task.service")
    wait_until(lambda: not executor.supervisor_pid("task.service"), 10, "task done")
    assert (executor.status("task.service").active, executor.status("task.service").sub) == (
        "inactive",
        "dead",
    )
