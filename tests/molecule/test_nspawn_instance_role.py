"""The nspawn_instance role on its own, as a user testing their roles would run it:
booting is idempotent (a running instance is reused), destroying waits until the
instance is gone, and a systemd-nspawn that cannot start fails with its own words.

Uses the cached root file system (built by the first test that needs it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

MACHINE = "corral-role-test"

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: corral.cloud.nspawn_instance
  post_tasks:
    - name: Report the leader
      ansible.builtin.debug:
        msg: "leader={{ nspawn_instance_leader_pid | default('none') }}"
"""


def _apply(run_ansible, tmp_path: Path, **role_vars: object):
    play, extra = tmp_path / "play.yml", tmp_path / "vars.json"
    play.write_text(PLAYBOOK)
    extra.write_text(
        json.dumps(
            {
                "nspawn_instance_name": MACHINE,
                "nspawn_instance_run_dir": str(tmp_path / "run"),
                **role_vars,
            }
        )
    )
    return run_ansible(["ansible-playbook", "-e", f"@{extra}", str(play)], timeout=240)


def _changed(output: str) -> int:
    recap = next(line for line in output.splitlines() if line.startswith("localhost"))
    return int(recap.split("changed=")[1].split()[0])


def _leader(output: str) -> str:
    return output.split('"msg": "leader=')[1].split('"')[0]


def _running(pid: str) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.timeout(300)
def test_boot_is_idempotent_and_destroy_waits(run_ansible, tmp_path):
    first = _apply(run_ansible, tmp_path)
    try:
        assert first.returncode == 0, first.stdout[-4000:]
        leader = _leader(first.stdout)
        assert _running(leader)
        assert _changed(first.stdout) > 0

        again = _apply(run_ansible, tmp_path)
        assert again.returncode == 0, again.stdout[-4000:]
        assert _leader(again.stdout) == leader, "a second boot must reuse the running instance"
        assert _changed(again.stdout) == 0
    finally:
        gone = _apply(run_ansible, tmp_path, nspawn_instance_state="absent")
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert not _running(leader), "destroy returned while the instance still ran"
    assert not list((tmp_path / "run").glob("*.pid")), os.listdir(tmp_path / "run")

    again = _apply(run_ansible, tmp_path, nspawn_instance_state="absent")
    assert again.returncode == 0 and _changed(again.stdout) == 0, again.stdout[-4000:]


@pytest.mark.timeout(300)
def test_an_instance_that_cannot_start_fails_with_systemd_nspawn_s_message(run_ansible, tmp_path):
    result = _apply(run_ansible, tmp_path, nspawn_instance_extra_args=["--no-such-option"])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "systemd-nspawn exited" in output, output[-4000:]
    assert "--no-such-option" in output, output[-4000:]
    assert "Traceback" not in output
