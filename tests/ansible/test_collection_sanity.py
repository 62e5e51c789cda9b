"""`ansible-test sanity` on the collection as it ships, offline, with no ignore entries.

What ships is what `ansible-galaxy collection build` puts in the tarball (galaxy.yml's
build_ignore applied), so the tarball is built and extracted under a temporary
`ansible_collections/corral/cloud`: ansible-test refuses a symlinked collection.
The tests run on the collection's plugins, metadata and their tests; roles,
playbooks and molecule scenarios have their own checks.

ansible-test's venvs are cached under ~/.ansible/test (about 15 s warm, 3 min cold).
Its pip bootstrap would download get-pip.py from a host a private cloud cannot reach;
a stand-in that bootstraps pip with ensurepip and the package index is placed in its
cache instead.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

GET_PIP = Path.home() / ".ansible" / "test" / "cache" / "get_pip_24_2.py"
GET_PIP_STAND_IN = '''\
"""Stand-in for get-pip.py (written by corral's tests): bootstrap pip with ensurepip,
then install the requested pip from the configured package index."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", *args])
'''
TARGETS = ["plugins/", "meta/", "tests/unit/", "tests/integration/", "tests/ansible/"]


def test_no_sanity_ignore_entries():
    ignores = sorted((REPO / "tests" / "sanity").glob("ignore-*.txt"))
    assert [p for p in ignores if p.read_text().strip()] == []


@pytest.mark.timeout(900)
def test_ansible_test_sanity_passes_on_the_built_collection(tmp_path, run_tool):
    built = run_tool(
        ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = tmp_path.glob("corral-cloud-*.tar.gz")
    root = tmp_path / "ansible_collections" / "corral" / "cloud"
    root.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")
    if not GET_PIP.exists():
        GET_PIP.parent.mkdir(parents=True, exist_ok=True)
        GET_PIP.write_text(GET_PIP_STAND_IN)

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    sanity = run_tool(
        ["ansible-test", "sanity", "--venv", "--python", python, "--requirements",
         "--color", "no", "--truncate", "0", *TARGETS],
        cwd=root,
        timeout=840,
    )  # fmt: skip
    errors = [line for line in sanity.stdout.splitlines() if line.startswith("ERROR")]
    assert sanity.returncode == 0, "\n".join(errors) or sanity.stdout[-4000:] + sanity.stderr
