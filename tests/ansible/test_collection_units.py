"""Modules unit and unit_info on a running corral-fleet cluster: a real corral-store,
two real agents (one of them the engine) with the process executor, and the
`unit` integration target run by ansible-playbook against them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.testing import ManagedProcess, wait_until

TARGETS = Path(__file__).resolve().parents[1] / "integration" / "targets"
MACHINES = "/_corral/machines"


class FleetAgent(ManagedProcess):
    def __init__(self, endpoint: str, base: Path, machine_id: str, metadata: str, engine: bool):
        argv = [
            sys.executable, "-m", "corral.fleet",
            "--endpoint", endpoint, "--machine-id", machine_id, "--metadata", metadata,
            "--public-ip", "127.0.0.1", "--executor", "process", "--agent-ttl", "2s",
            "--state-dir", str(base / machine_id), "--journal-listen", "127.0.0.1:0",
            "--engine" if engine else "--no-engine",
        ]  # fmt: skip
        super().__init__(argv, base / f"{machine_id}.log", dict(os.environ, PYTHONUNBUFFERED="1"))


def _registered(client: Client) -> set[str]:
    try:
        return {n.name for n in client.get(MACHINES).node.nodes}
    except EtcdError:
        return set()


@pytest.fixture
def cluster(store, tmp_path) -> Iterator[dict[str, FleetAgent]]:
    agents = {
        "it-web": FleetAgent(store.url, tmp_path, "it-web", "role=web", engine=True),
        "it-db": FleetAgent(store.url, tmp_path, "it-db", "role=db", engine=False),
    }
    try:
        for agent in agents.values():
            agent.spawn()
        with Client(store.url) as client:
            wait_until(lambda: _registered(client) == set(agents), 30, "agents registered")
        yield agents
    finally:
        for agent in agents.values():
            agent.stop()


def test_unit_lifecycle_through_real_agents(cluster, store, run_tool, tmp_path):
    marker = tmp_path / "web-started"
    playbook = tmp_path / "unit.yml"
    playbook.write_text(
        "- name: Target unit\n  hosts: localhost\n  gather_facts: false\n"
        "  roles:\n    - role: unit\n"
    )
    result = run_tool(
        ["ansible-playbook", "-i", "localhost,", "-c", "local",
         "-e", f"corral_endpoint={store.url}", "-e", f"unit_marker={marker}", str(playbook)],
        cwd=tmp_path,
        ANSIBLE_ROLES_PATH=str(TARGETS),
    )  # fmt: skip
    logs = "\n".join(a.log_text() for a in cluster.values())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + logs
    assert "failed=0" in output
    # the process executor really ran the unit's command on the web machine
    assert marker.exists(), logs
    with Client(store.url) as client:
        with pytest.raises(EtcdError):
            client.get("/_corral/units/it-web.service")
        with pytest.raises(EtcdError):
            client.get("/_corral/units/it-bad.service")


DRAIN_PLAY = """\
- name: Drain a machine of a running cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/corral.cloud.corral:
      endpoint: "{endpoint}"
  tasks:
    - name: Run a unit on it-web
      corral.cloud.unit:
        name: drained.service
        content: |
          [Service]
          ExecStart=/bin/sleep 1000
          [X-Fleet]
          MachineMetadata=role=web
    - name: Drain it-web until it runs nothing
      corral.cloud.machine:
        machine: it-web
        state: drained
        wait: true
        wait_timeout: 60
      register: drained
    - name: What it-web reports once drained
      corral.cloud.unit_info:
        name: drained.service
      register: after_drain
    - name: Undrain it
      corral.cloud.machine:
        machine: it-web
        state: undrained
    - name: The unit comes back
      corral.cloud.unit:
        name: drained.service
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{{{ {{'drained': drained, 'after': after_drain.units[0]}} | to_json }}}}"
        dest: "{results}"
        mode: "0600"
"""


def test_drain_with_wait_returns_once_the_agent_stopped_its_units(
    cluster, store, run_tool, tmp_path
):
    playbook = tmp_path / "drain.yml"
    results = tmp_path / "results.json"
    playbook.write_text(DRAIN_PLAY.format(endpoint=store.url, results=results))
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
                      cwd=tmp_path)  # fmt: skip
    logs = "\n".join(a.log_text() for a in cluster.values())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + logs
    shown = json.loads(results.read_text())
    assert shown["drained"]["changed"] is True and shown["drained"]["units"] == []
    after = shown["after"]
    assert after["machine"] is None and after["reason"]  # nowhere else matches role=web
    assert after["states"].get("it-web", {}).get("active") not in ("active", "activating")
    with Client(store.url) as client:
        record = json.loads(client.get(f"{MACHINES}/it-web").node.value)
    assert record["drained"] is False
