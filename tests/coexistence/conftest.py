"""Fixtures of the Puppet tests: Debian's real puppet against real corral-stores."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from coexistence_support import MODULES, Puppet
from updated_harness import signers, upstream

__all__ = ["signers", "upstream"]


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

