"""Fixtures for the mirror and trust tests: real gpg keys in a throwaway GNUPGHOME.

ed25519 keys take ~30 ms to make with gpg 2.2 (RSA 3072 ~1.4 s), so each test session
makes its own and revokes none of them; tests that need a revoked key revoke a copy.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Keys:
    home: Path
    alice: str
    bob: str
    carol: str
    mallory: str  # a real key nobody pins

    def env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.home)}


def make_key(home: Path, name: str) -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@corral.test>",
         "ed25519", "sign", "never"],
        env=env, check=True, capture_output=True, timeout=30,
    )
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys", f"<{name}@corral.test>"],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    made = Keys(home, *(make_key(home, n) for n in ("alice", "bob", "carol", "mallory")))
    yield made
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
