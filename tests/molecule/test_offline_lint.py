"""ansible-lint (the repository's .ansible-lint: production profile, offline) on the
roles, playbooks and Molecule scenarios of the offline install path."""

from __future__ import annotations

import pytest

PATHS = [
    "roles/nspawn_instance",
    "roles/store",
    "playbooks/bundle.yml",
    "extensions/molecule/default",
    "extensions/molecule/shared",
]


@pytest.mark.timeout(300)
def test_offline_install_content_passes_production_lint(assert_production_lint):
    assert_production_lint(PATHS)
