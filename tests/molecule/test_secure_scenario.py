"""Runs Molecule's `secure` scenario as a user would (`molecule test` from the
collection root, against one systemd-nspawn instance with no network), with Ansible
at `-v`, and checks that none of the scenario's store passwords shows in its output.

The scenario deploys the store over TLS with client certificates and auth on, a fleet
agent and corral-updated on their own store users, checks idempotence, and verifies
inside the instance what a client without the right CA, certificate or credentials
meets (see extensions/molecule/secure/verify.yml).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "secure"
INSTANCE = "corral-secure"
Run = Callable[..., "subprocess.CompletedProcess[str]"]  # the run_ansible fixture


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


def _secrets() -> list[str]:
    config = yaml.safe_load((ROOT / "extensions/molecule" / SCENARIO / "molecule.yml").read_text())
    group_vars = config["provisioner"]["inventory"]["group_vars"]["corral"]
    return list(group_vars["corral_secrets"].values())


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
def test_molecule_secure_scenario(tmp_path: Path) -> None:
    assert not _nspawn_pids(INSTANCE), f"an instance {INSTANCE} is already running"
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_VERBOSITY="1",  # as `-v`: results of every task are shown
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
    output = log.read_text(errors="replace")
    assert "corral-secure" in output and "censored" in output  # -v output, no_log at work
    leaked = [s for s in _secrets() if s in output]
    assert not leaked, f"{len(leaked)} store password(s) appear in Ansible's output"


@pytest.mark.timeout(300)
def test_secure_scenario_passes_production_lint(run_ansible: Run) -> None:
    lint = run_ansible(["ansible-lint", "--nocolor", "extensions/molecule/secure"], timeout=240)
    output = lint.stdout + lint.stderr
    assert lint.returncode == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output
