"""ansible-lint (the repository's .ansible-lint: production profile, offline) on the
cluster's roles, playbooks and the Molecule `cluster` scenario."""

from __future__ import annotations

import pytest

PATHS = [
    "roles/etcd",
    "roles/fleet",
    "roles/update_engine",
    "roles/mirror",
    "playbooks/site.yml",
    "playbooks/rolling_update.yml",
    "playbooks/mirror.yml",
    "extensions/molecule/cluster",
]


@pytest.mark.timeout(300)
def test_cluster_content_passes_production_lint(assert_production_lint):
    assert_production_lint(PATHS)
