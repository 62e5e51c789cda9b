"""Fixtures of the security tests: certificates made per session, stores serving TLS,
and `corralctl` run as a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from security_pki import Pki, make_pki

from corral.testing import StoreServer

Ctl = Callable[..., "subprocess.CompletedProcess[str]"]


REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collections path on which the working tree is the collection `corral.cloud`."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "corral").mkdir(parents=True)
    (root / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
    return root


def ansible_env(collections: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for Ansible's command-line tools: the collection on the path, no user
    configuration or Corral settings, no colour, this venv's Python on localhost."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_CONFIG=str(tmp / "none.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_store(data_dir: Path, cert: tuple[Path, Path], extra: tuple[str, ...] = ()) -> StoreServer:
    """A store with a loopback plain-HTTP listener (urls[0], used to poll readiness)
    and a TLS listener (urls[1]) presenting `cert`."""
    return StoreServer(
        data_dir,
        ["--cert-file", str(cert[0]), "--key-file", str(cert[1]), *extra],
        listen="http://127.0.0.1:0,https://127.0.0.1:0",
    ).start()


def run_ctl(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """corralctl in a child process, with no CORRAL_* settings inherited."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    return subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", *argv],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def ctl() -> Ctl:
    return run_ctl


@pytest.fixture
def auth_store(tmp_path: Path) -> Iterator[StoreServer]:
    """A plain-HTTP store, for tests of users and roles."""
    server = StoreServer(tmp_path / "store").start()
    try:
        yield server
    finally:
        server.stop()
