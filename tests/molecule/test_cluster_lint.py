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
def test_cluster_content_passes_production_lint(run_ansible):
    lint = run_ansible(["ansible-lint", "--nocolor", *PATHS], timeout=240)
    output = lint.stdout + lint.stderr
    assert lint.returncode == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output
