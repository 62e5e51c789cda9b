"""Fixtures for driving Ansible's own tools (ansible-playbook, ansible-doc,
ansible-test, ansible-lint) on this collection as real child processes.

Ansible finds a collection only under `.../ansible_collections/<namespace>/<name>`;
`collections_path` is a temporary directory whose `ansible_collections/corral/cloud`
is a symlink to the repository, so the tools see the working tree as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "corral").mkdir(parents=True)
    (root / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
    return root


@pytest.fixture
def ansible_env(collections_path: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for Ansible's command-line tools: this collection on the path,
    no user configuration, no colour, the venv's Python on the managed host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_CONFIG=str(tmp_path / "no-ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_PIPELINING="1",
    )
    yield env


Tool = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_tool(ansible_env: dict[str, str]) -> Tool:
    """Runs one of Ansible's tools from the venv; output is kept for assertions."""

    def run(
        argv: list[str], cwd: Path | None = None, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            env={**ansible_env, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    return run
