"""Fixtures for running the collection's roles and playbooks with Ansible's tools as
child processes: the working tree seen as the collection `corral.cloud` through a
symlinked `ansible_collections/corral/cloud`, no user configuration, no colour."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_ansible(tmp_path: Path) -> Run:
    """Runs a tool of the venv (ansible-playbook, ansible-lint) with the collection on
    its path; output is kept for assertions."""
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "corral").mkdir(parents=True)
    (collections / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
    # CORRAL_CACHE_DIR stays: the root file system cache is shared with Molecule's runs.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ANSIBLE_") and k != "CORRAL_ENDPOINT"
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_CONFIG=str(tmp_path / "no-ansible.cfg"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        NO_COLOR="1",
    )

    def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    return run


@pytest.fixture
def assert_production_lint(run_ansible: Run) -> Callable[[list[str]], None]:
    """Checks that ansible-lint (the repository's .ansible-lint: production profile,
    offline) passes on the given roles, playbooks and scenarios."""

    def check(paths: list[str]) -> None:
        lint = run_ansible(["ansible-lint", "--nocolor", *paths], timeout=240)
        output = lint.stdout + lint.stderr
        assert lint.returncode == 0, output[-6000:]
        assert "Profile 'production' was required, and it passed" in output

    return check
