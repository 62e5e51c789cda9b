"""Runs Molecule's `secure` scenario as a user would (`molecule test` from the
collection root, against one systemd-nspawn instance with no network), with Ansible
at `-v`, and checks that none of the scenario's store passwords shows in its output.

The scenario deploys the store over TLS with client certificates and auth on, a fleet
agent and corral-updated on their own store users, checks idempotence, and verifies
inside the instance what a client without the right CA, certificate or credentials
meets (see extensions/molecule/secure/verify.yml).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from molecule_harness import molecule_test

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "secure"
INSTANCE = "corral-secure"
def _secrets() -> list[str]:
    config = yaml.safe_load((ROOT / "extensions/molecule" / SCENARIO / "molecule.yml").read_text())
    group_vars = config["provisioner"]["inventory"]["group_vars"]["corral"]
    return list(group_vars["corral_secrets"].values())


@pytest.mark.timeout(600)
def test_molecule_secure_scenario(tmp_path: Path) -> None:
    # ANSIBLE_VERBOSITY as `-v`: results of every task are shown
    log = molecule_test(SCENARIO, INSTANCE, tmp_path, ANSIBLE_VERBOSITY="1")
    output = log.read_text(errors="replace")
    assert "corral-secure" in output and "censored" in output  # -v output, no_log at work
    leaked = [s for s in _secrets() if s in output]
    assert not leaked, f"{len(leaked)} store password(s) appear in Ansible's output"


@pytest.mark.timeout(300)
def test_secure_scenario_passes_production_lint(
    assert_production_lint: Callable[[list[str]], None],
) -> None:
    assert_production_lint(["extensions/molecule/secure"])
