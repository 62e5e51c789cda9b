"""Fixtures of the Puppet tests: Debian's real puppet against real corral-stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "contrib" / "puppet"
# the certificates of the security tests, the update engine's harness
sys.path.insert(0, str(REPO / "tests" / "daemons" / "security"))
sys.path.insert(0, str(REPO / "tests" / "daemons" / "updated"))
from updated_harness import Signers, UpstreamMirror, make_key  # noqa: E402

Puppet = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def puppet(tmp_path: Path) -> Puppet:
    """`puppet SUBCOMMAND ...` with this repository's module on the module path, its
    own confdir, and facts from a file (facter's probing of the host is not the test)."""
    if shutil.which("puppet") is None:
        pytest.fail("puppet not installed: run `make test`, which installs Debian's puppet")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"networking": {"fqdn": "node.test"}}))

    def run(subcommand: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        common = ["--modulepath", str(MODULES), "--confdir", str(tmp_path / "confdir"),
                  "--vardir", str(tmp_path / "vardir"),
                  "--codedir", str(tmp_path / "code")]  # fmt: skip
        if subcommand == "lookup":
            common += ["--facts", str(facts), "--node", "node.test"]
        return subprocess.run(["puppet", subcommand, *common, *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip

    return run


@pytest.fixture(scope="session")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signers]:
    home = tmp_path_factory.mktemp("puppet-gnupg")
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
