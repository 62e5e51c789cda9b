"""Runs Molecule's `cluster` scenario: three systemd-nspawn instances on a private
network, an etcd cluster under corral-store on each, fleet agents, update engines and
an internal mirror, all installed by playbooks/site.yml from an offline bundle; then a
release rolled through the cluster by playbooks/rolling_update.yml (side_effect).

Each run has its own id ($CORRAL_CLUSTER_RUN: the test's PID and a random suffix), in
its instance names and its network namespace, so two runs on one machine do not
collide; instances and namespaces left by a run whose test process is gone (killed
past its timeout) are removed first. The test makes the network namespace the
scenario builds its bridge in (`ip netns add`), so the instances' network exists
nowhere else, and runs `molecule verify` inside it, as well as a probe that reads the
three stores throughout the rollout. The root file system is the one the default
scenario's tests cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from molecule_harness import nspawn_machines, tail

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "cluster"
PROBE = Path(__file__).with_name("store_probe.py")
STORES = [f"http://10.213.47.{n}:2379" for n in (1, 2, 3)]
# A run id is "<pid of the test>x<hex>": the pid tells whether its owner still runs.
RUN_NAME = re.compile(r"corral-(?:c[123]|cluster)-(\d+)x[0-9a-f]+")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(name: str) -> bool:
    match = RUN_NAME.fullmatch(name)
    return bool(match) and not _alive(int(match.group(1)))


def _reap_leftovers() -> None:
    """Stops instances and deletes namespaces of earlier runs whose test is gone."""
    for pid, machine in nspawn_machines().items():
        if not _orphaned(machine):
            continue
        # The container's init first: its PID namespace, and all inside, goes with it.
        try:
            leaders = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            leaders = []
        for victim in [*map(int, leaders), pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
    netns = Path("/run/netns")
    for ns in netns.iterdir() if netns.is_dir() else []:
        if _orphaned(ns.name):
            subprocess.run(["ip", "netns", "delete", ns.name], check=False)


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


def _rollout_with_probe(env: dict[str, str], log: Path, netns: str, rounds: Path) -> int:
    """molecule side-effect (the rolling update) while the probe reads every store."""
    probe = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, str(PROBE), str(rounds), "/", *STORES],
        stdin=subprocess.DEVNULL,
    )
    try:
        return _molecule("side-effect", env, log, 600)
    finally:
        probe.terminate()
        try:
            probe.wait(timeout=10)
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()


@pytest.mark.timeout(1500)
def test_molecule_cluster_scenario(tmp_path: Path) -> None:
    _reap_leftovers()
    run = f"{os.getpid()}x{secrets.token_hex(2)}"
    instances = [f"corral-c{n}-{run}" for n in (1, 2, 3)]
    netns = f"corral-cluster-{run}"
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        CORRAL_CLUSTER_NETNS=netns,
        CORRAL_CLUSTER_RUN=run,
    )
    log = tmp_path / "molecule.log"
    rounds = tmp_path / "probe.jsonl"
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
            if _rollout_with_probe(env, log, netns, rounds) != 0:
                failed = "side-effect"
            elif _molecule("verify", env, log, 300, netns=netns) != 0:
                failed = "verify"
    finally:
        _molecule("destroy", env, log, timeout=120)
        subprocess.run(["ip", "netns", "delete", netns], check=False)

    assert not failed, f"molecule {failed} failed:\n{tail(log, 200)}"
    left = [name for name in nspawn_machines().values() if name in instances]
    assert not left, f"molecule destroy left instances running: {left}"
    assert not Path("/run/netns", netns).exists(), f"network namespace {netns} left behind"

    # The stores seen from outside during the rollout: one host at a time restarts its
    # services, so at every moment at least two of the three answered.
    seen = [json.loads(line) for line in rounds.read_text().splitlines() if line.strip()]
    assert len(seen) > 50, f"the probe ran only {len(seen)} rounds"
    short = [(r["t"], r["up"]) for r in seen if len(r["up"]) < 2]
    assert not short, f"fewer than two stores answered at {short[:5]}"


def test_leftover_names_are_recognised_by_their_owner() -> None:
    gone = 2**22 + 1  # above Linux's largest pid_max: no such process
    assert _orphaned(f"corral-c2-{gone}x1a2b")
    assert _orphaned(f"corral-cluster-{gone}x00ff")
    assert not _orphaned(f"corral-c2-{os.getpid()}x1a2b")
    assert not _orphaned("corral-c2")
    assert not _orphaned("corral-default")
