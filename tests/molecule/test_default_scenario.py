"""Runs Molecule's `default` scenario as a user would: `molecule test` from the
collection root, against a systemd-nspawn instance with no network.

The scenario builds the offline bundle, boots the instance (building the root file
system with mmdebstrap the first time; it is cached in $CORRAL_CACHE_DIR or
~/.cache/corral), installs corral-store with the `store` role, checks idempotence,
verifies over HTTP inside the instance and destroys it.

ANSIBLE_HOME points into the test's own directory: Molecule installs the collection
and keeps its state there, not in the user's ~/.ansible.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "default"
INSTANCE = "corral-default"


def _nspawn_pids(machine: str) -> list[int]:
    """PIDs of systemd-nspawn processes running the given machine."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn") and f"--machine={machine}".encode() in argv:
            pids.append(int(proc.name))
    return pids


def _molecule(command: str, env: dict[str, str], log: Path, timeout: float) -> int:
    with open(log, "ab") as out:
        return subprocess.run(
            ["molecule", command, "--scenario-name", SCENARIO],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        ).returncode


def _tail(log: Path, lines: int = 150) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.timeout(600)
def test_molecule_default_scenario(tmp_path: Path) -> None:
    assert not _nspawn_pids(INSTANCE), f"an instance {INSTANCE} is already running"
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    log = tmp_path / "molecule.log"
    try:
        rc = _molecule("test", env, log, timeout=540)
    finally:
        # `molecule test` destroys the instance even when a step fails; a timeout
        # leaves that undone.
        if _nspawn_pids(INSTANCE):
            _molecule("destroy", env, log, timeout=60)

    assert rc == 0, f"molecule test failed (rc={rc}):\n{_tail(log)}"
    assert not _nspawn_pids(INSTANCE), "molecule destroy left the instance running"
