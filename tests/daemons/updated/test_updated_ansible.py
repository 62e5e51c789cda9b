"""The `external` strategy driven from Ansible: a play asks a staged machine to reboot
by writing its request key with the collection's `corral.cloud.kv` module (real
ansible-playbook), and the machine's daemon reboots into the staged release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from updated_harness import Machine, status

from corral.updated import records as r

REPO = Path(__file__).resolve().parents[3]

PLAY = """\
- name: Reboot the staged machine now
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask corral-updated on m1 to reboot
      corral.cloud.kv:
        endpoint: "{endpoint}"
        key: /_corral/update/requests/m1/reboot
        value: requested
"""


def test_an_ansible_play_reboots_a_machine_on_the_external_strategy(store, upstream, signers,
                                                                     tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="external")
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    for _ in range(3):
        m.updater.step()
    assert m.reboots() == 0 and status(store.url, "m1").status == r.NEED_REBOOT
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    playbook = tmp_path / "reboot.yml"
    playbook.write_text(PLAY.format(endpoint=store.url))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0 and "changed=1" in done.stdout, done.stdout + done.stderr
    m.updater.step()
    assert m.reboots() == 1
    assert m.boot() == "b" and status(store.url, "m1").version == "1.1.0"
