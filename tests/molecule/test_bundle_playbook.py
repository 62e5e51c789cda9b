"""playbooks/bundle.yml refuses to run without a destination, with one clear message.
(A full bundle is built and checked by the Molecule scenario's prepare and verify.)"""

from __future__ import annotations

import pytest


@pytest.mark.timeout(120)
def test_bundle_without_a_directory_says_how_to_give_one(run_ansible):
    result = run_ansible(["ansible-playbook", "playbooks/bundle.yml"], timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Give the bundle's directory with -e bundle_dir=DIR" in output, output[-3000:]
    assert "Traceback" not in output
