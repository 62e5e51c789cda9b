"""A systemd-nspawn instance booted with real systemd, for the systemd executor's test.

The instance is started and destroyed by the collection's `nspawn_instance` role (the
same root file system cache, start and stop steps as Molecule's scenarios), run with
ansible-playbook on localhost. Corral goes in as a wheel built from this checkout plus
its dependencies' wheels, bind-mounted read-only and installed with
`pip --no-index`, as on an air-gapped host. Commands run inside through nsenter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: corral.cloud.nspawn_instance
"""


def build_wheels(dest: Path, work: Path) -> None:
    """corral from this checkout's sources (copied, so no build files land in the
    checkout) and its dependencies, as the offline bundle carries them."""
    src = work / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "daemons", src / "daemons", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [str(BIN / "pip"), "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(dest), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed:\n{done.stderr[-3000:]}")


class Box:
    def __init__(self, name: str, work: Path, extra_args: list[str]) -> None:
        self.name = name
        self.work = work
        self.extra_args = extra_args
        self.leader = 0

    def _role(self, state: str) -> subprocess.CompletedProcess[str]:
        collections = self.work / "collections"
        link = collections / "ansible_collections" / "corral" / "cloud"
        if not link.exists():
            link.parent.mkdir(parents=True)
            link.symlink_to(REPO)
        play, extra = self.work / "play.yml", self.work / "vars.json"
        play.write_text(PLAYBOOK)
        extra.write_text(
            json.dumps(
                {
                    "nspawn_instance_name": self.name,
                    "nspawn_instance_run_dir": str(self.work / "run"),
                    "nspawn_instance_extra_args": self.extra_args,
                    "nspawn_instance_state": state,
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            ANSIBLE_COLLECTIONS_PATH=str(collections),
            ANSIBLE_CONFIG=str(self.work / "no-ansible.cfg"),
            ANSIBLE_HOME=str(self.work / "ansible-home"),
            ANSIBLE_NOCOLOR="1",
        )
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-e", f"@{extra}", str(play)],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def start(self) -> Box:
        done = self._role("started")
        if done.returncode != 0:
            raise RuntimeError(f"instance {self.name} did not start:\n{done.stdout[-4000:]}")
        self.leader = int((self.work / "run" / f"{self.name}.leader").read_text())
        return self

    def destroy(self) -> None:
        done = self._role("absent")
        if done.returncode != 0:
            raise RuntimeError(f"instance {self.name} was not destroyed:\n{done.stdout[-4000:]}")

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> str:
        """Run a shell script inside; returns its stdout (stderr too on failure)."""
        done = subprocess.run(
            ["nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net",
             "--pid", "--", "/bin/sh", "-c", script],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"inside {self.name}: {script!r} -> {done.returncode}\n{done.stdout}{done.stderr}"
            )
        return done.stdout
