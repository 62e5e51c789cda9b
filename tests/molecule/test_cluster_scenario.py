"""Runs Molecule's `cluster` scenario: three systemd-nspawn instances on a private
network, an etcd cluster under corral-store on each, fleet agents, all installed by
playbooks/site.yml from an offline bundle.

The test makes the network namespace the scenario builds its bridge in (`ip netns
add`), so the instances' network exists nowhere else, and runs `molecule verify`
inside it: verify's lookups reach the stores from the controller over that bridge.
The root file system is the one the default scenario's tests cached.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "cluster"
INSTANCES = ["corral-c1", "corral-c2", "corral-c3"]


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


def _tail(log: Path, lines: int = 200) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _molecule(
    command: str, env: dict[str, str], log: Path, timeout: float, netns: str | None = None
) -> int:
    argv = ["molecule", command, "--scenario-name", SCENARIO]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    # Its own session, so that a step past its timeout is stopped with the
    # ansible-playbook it runs, not only Molecule.
    with open(log, "ab") as out:
        step = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return step.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(step.pid, signal.SIGKILL)
            step.wait()
            out.write(f"\nmolecule {command} stopped after {timeout:g} s\n".encode())
            return -1


@pytest.mark.timeout(900)
def test_molecule_cluster_scenario(tmp_path: Path) -> None:
    running = [name for name in INSTANCES if _nspawn_pids(name)]
    assert not running, f"instances already running: {running}"
    netns = f"corral-cluster-{os.getpid()}"
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        CORRAL_CLUSTER_NETNS=netns,
    )
    log = tmp_path / "molecule.log"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    steps: list[tuple[str, float]] = [
        ("destroy", 120),
        ("create", 240),
        ("prepare", 300),
        ("converge", 400),
        ("idempotence", 300),
    ]
    failed = ""
    try:
        for step, timeout in steps:
            if _molecule(step, env, log, timeout) != 0:
                failed = step
                break
        else:
            if _molecule("verify", env, log, 300, netns=netns) != 0:
                failed = "verify"
    finally:
        _molecule("destroy", env, log, timeout=120)
        subprocess.run(["ip", "netns", "delete", netns], check=False)

    assert not failed, f"molecule {failed} failed:\n{_tail(log)}"
    left = [name for name in INSTANCES if _nspawn_pids(name)]
    assert not left, f"molecule destroy left instances running: {left}"
