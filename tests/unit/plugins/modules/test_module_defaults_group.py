"""`module_defaults: group/corral.cloud.corral` sets the connection once for every module
of the collection: the group in meta/runtime.yml lists each module, and a real play whose
tasks give no endpoint reaches the store through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from corral.client import Client
from corral.testing import free_port

REPO = Path(__file__).resolve().parents[4]

PLAY = """\
- name: Every module through the group's defaults
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/corral.cloud.corral:
      endpoint: "{{ store }}"
  tasks:
    - name: Write a key in check mode
      corral.cloud.kv:
        key: /group/new
        value: "1"
      check_mode: true
      register: group_kv
    - name: Read a key
      corral.cloud.kv_info:
        key: /group/seed
      register: group_kv_info
    - name: List the machines
      corral.cloud.machine_info:
      register: group_machines
    - name: List the units
      corral.cloud.unit_info:
      register: group_units
    - name: Read the update status
      corral.cloud.update_info:
      register: group_updates
    - name: Set the cluster's update channel in check mode
      corral.cloud.update:
        machine: all
        channel: beta
      check_mode: true
      register: group_update
    - name: Set the reboot lock's size in check mode
      corral.cloud.reboot_lock:
        max: 2
      check_mode: true
      register: group_lock
    - name: Submit a unit in check mode
      corral.cloud.unit:
        name: group.service
        content: "[Service]\\nExecStart=/bin/true\\n"
        state: loaded
      check_mode: true
      register: group_unit
    - name: Save what the modules saw
      ansible.builtin.copy:
        content: "{{ {'kv': group_kv.changed, 'seed': group_kv_info.value,
                     'machines': group_machines.machines, 'units': group_units.units,
                     'updates': group_updates.machines, 'update': group_update.changed,
                     'lock': group_lock.changed, 'unit': group_unit.changed} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_the_group_lists_every_module():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py")
                     if p.stem != "__init__")  # fmt: skip
    assert sorted(runtime["action_groups"]["corral"]) == modules


def test_a_play_reaches_the_store_through_the_groups_defaults(endpoint, tmp_path):
    with Client(endpoint) as client:
        client.set("/group/seed", "from the store")
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    (tmp_path / "play.yml").write_text(PLAY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               # without the group's endpoint a module would try this one, and fail
               CORRAL_ENDPOINT=f"http://127.0.0.1:{free_port()}",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    out = tmp_path / "seen.json"
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", f"store={endpoint}", "-e", f"out={out}", "play.yml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(out.read_text())
    assert seen == {"kv": True, "seed": "from the store", "machines": [], "units": [],
                    "updates": [], "update": True, "lock": True, "unit": True}
    with Client(endpoint) as client:  # check mode wrote nothing
        assert [n.key for n in client.get("/group").node.nodes] == ["/group/seed"]
