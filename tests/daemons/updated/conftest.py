"""Fixtures of corral-updated's tests: throwaway gpg keys (ed25519, made once per
session) and a signed mirror made with the real corral-mirror CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from updated_harness import Signers, UpstreamMirror, make_key


@pytest.fixture(scope="session")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signers]:
    home = tmp_path_factory.mktemp("updated-gnupg")
    home.chmod(0o700)
    yield Signers(home, make_key(home, "alice"), make_key(home, "bob"))
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture
def upstream(tmp_path: Path, signers: Signers) -> Iterator[UpstreamMirror]:
    mirror = UpstreamMirror(tmp_path / "mirror", signers).init()
    mirror.publish("1.0.0", b"system 1.0.0\n")
    try:
        yield mirror
    finally:
        mirror.stop()
