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

from pathlib import Path

import pytest
from molecule_harness import molecule_test

SCENARIO = "default"
INSTANCE = "corral-default"


@pytest.mark.timeout(600)
def test_molecule_default_scenario(tmp_path: Path) -> None:
    molecule_test(SCENARIO, INSTANCE, tmp_path)
