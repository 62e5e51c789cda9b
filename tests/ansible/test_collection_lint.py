"""ansible-lint, production profile, offline, on the collection's playbook content
that this suite owns: the integration targets, plugins and meta/runtime.yml.
The profile and the offline switch come from the repository's .ansible-lint."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = ["tests/integration/targets", "plugins", "meta"]


def test_lint_config_asks_for_production_offline():
    config = (REPO / ".ansible-lint").read_text()
    assert "profile: production" in config and "offline: true" in config


@pytest.mark.timeout(600)
def test_ansible_lint_production_profile_passes(run_tool):
    lint = run_tool(
        ["ansible-lint", "--nocolor", *PATHS], cwd=REPO, timeout=540, NO_COLOR="1"
    )
    assert lint.returncode == 0, lint.stdout[-6000:] + lint.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in lint.stderr + lint.stdout
