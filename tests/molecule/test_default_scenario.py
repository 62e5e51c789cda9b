"""Runs Molecule's `default` scenario as a user would: `molecule test` from the
collection root, against a systemd-nspawn instance with no network.

The scenario builds the offline bundle, boots the instance (building the root file
system with mmdebstrap the first time; it is cached in $CORRAL_CACHE_DIR or
~/.cache/corral), installs corral-store with the `store` role, checks idempotence,
verifies over HTTP inside the instance and destroys it.

ANSIBLE_HOME points into the test's own directory: Molecule installs the collection
and keeps its state there, not in the user's ~/.ansible.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from molecule_harness import molecule, nspawn_pids, tail

SCENARIO = "default"
INSTANCE = "corral-default"


@pytest.mark.timeout(600)
def test_molecule_default_scenario(tmp_path: Path) -> None:
    assert not nspawn_pids(INSTANCE), f"an instance {INSTANCE} is already running"
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    log = tmp_path / "molecule.log"
    try:
        rc = molecule(SCENARIO, "test", env, log, timeout=540)
    finally:
        # `molecule test` destroys the instance even when a step fails; a timeout
        # leaves that undone.
        if nspawn_pids(INSTANCE):
            molecule(SCENARIO, "destroy", env, log, timeout=60)

    assert rc == 0, f"molecule test failed (rc={rc}):\n{tail(log)}"
    assert not nspawn_pids(INSTANCE), "molecule destroy left the instance running"
