"""What the Molecule scenario tests share: finding the systemd-nspawn instances a run
left, running a Molecule step or a whole `molecule test` into a log, and showing the
log's end on failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def nspawn_machines() -> dict[int, str]:
    """systemd-nspawn processes by PID, with the machine name each runs."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn"):
            for arg in argv:
                if arg.startswith(b"--machine="):
                    found[int(proc.name)] = arg.removeprefix(b"--machine=").decode()
    return found


def nspawn_pids(machine: str) -> list[int]:
    """PIDs of systemd-nspawn processes running the given machine."""
    return [pid for pid, name in nspawn_machines().items() if name == machine]


def molecule(scenario: str, command: str, env: dict[str, str], log: Path,
             timeout: float) -> int:
    """Runs `molecule <command>` on the scenario from the collection root, appending its
    output to the log; its exit status."""
    with open(log, "ab") as out:
        return subprocess.run(
            ["molecule", command, "--scenario-name", scenario],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        ).returncode


def tail(log: Path, lines: int = 150) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def molecule_test(scenario: str, instance: str, tmp_path: Path, **env: str) -> Path:
    """Runs `molecule test` on a scenario of one instance as a user would, Ansible's
    state in the test's directory and `env` added; checks that it passed and left no
    instance running. The log of the run."""
    assert not nspawn_pids(instance), f"an instance {instance} is already running"
    venv_bin = str(Path(sys.executable).parent)
    run_env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        **env,
    )
    log = tmp_path / "molecule.log"
    try:
        rc = molecule(scenario, "test", run_env, log, timeout=540)
    finally:
        # `molecule test` destroys the instance even when a step fails; a timeout
        # leaves that undone.
        if nspawn_pids(instance):
            molecule(scenario, "destroy", run_env, log, timeout=60)

    assert rc == 0, f"molecule test failed (rc={rc}):\n{tail(log)}"
    assert not nspawn_pids(instance), "molecule destroy left the instance running"
    return log
