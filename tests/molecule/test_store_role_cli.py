"""The store role's manual pages and bash completion: generated from the installed venv
into the directories given, a page and a completion file per command, and a second run
changes nothing. The host is this machine (connection local) with every path under a
temporary directory; the "installed venv" runs this tree's corral."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from corral.commands import PARSERS

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The store role's manual pages and completion only
      ansible.builtin.include_role:
        name: corral.cloud.store
        tasks_from: cli.yml
"""


def _venv(install_dir: Path) -> None:
    """A venv whose python and register-python-argcomplete run this tree's code."""
    bin_dir = install_dir / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    path = os.pathsep.join([str(REPO / "daemons"), os.environ.get("PYTHONPATH", "")])
    register = Path(sys.executable).parent / "register-python-argcomplete"
    for name, target in (("python", sys.executable), (register.name, str(register))):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH={path} exec {target} "$@"\n')
        script.chmod(0o755)


@pytest.mark.timeout(300)
def test_pages_and_completion_installed_once(run_ansible, tmp_path: Path) -> None:
    _venv(tmp_path / "opt")
    role_vars = {"store_install_dir": str(tmp_path / "opt"),
                 "store_man_dir": str(tmp_path / "man" / "man1"),
                 "store_bash_completion_dir": str(tmp_path / "bash_completion.d"),
                 "ansible_python_interpreter": sys.executable}  # fmt: skip
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.json").write_text(json.dumps(role_vars))
    argv = ["ansible-playbook", "-i", "localhost,", "-e", f"@{tmp_path / 'vars.json'}",
            str(tmp_path / "play.yml")]  # fmt: skip
    first = run_ansible(argv, timeout=240)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "man" / "man1").iterdir()) == sorted(
        f"{c}.1" for c in PARSERS
    )
    completion = tmp_path / "bash_completion.d"
    assert sorted(p.name for p in completion.iterdir()) == sorted(PARSERS)
    script = (completion / "corralctl").read_text()
    assert "_python_argcomplete" in script and str(tmp_path / "opt/venv/bin/corralctl") in script
    done = subprocess.run(["bash", "-n", str(completion / "corralctl")], capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = run_ansible(argv, timeout=240)
    assert again.returncode == 0
    assert re.search(r"changed=0\s", again.stdout), again.stdout[-3000:]
