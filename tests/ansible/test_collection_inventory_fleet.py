"""Inventory corral.cloud.machines on a running corral-fleet cluster: real agents
register on a real corral-store, ansible-inventory lists them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.testing import ManagedProcess, wait_until

MACHINES = "/_corral/machines"


class Agent(ManagedProcess):
    def __init__(self, endpoint: str, base: Path, machine_id: str, ip: str, metadata: str):
        argv = [
            sys.executable, "-m", "corral.fleet",
            "--endpoint", endpoint, "--machine-id", machine_id, "--metadata", metadata,
            "--public-ip", ip, "--executor", "process", "--agent-ttl", "2s",
            "--state-dir", str(base / machine_id), "--no-engine",
            "--journal-listen", "127.0.0.1:0",
        ]  # fmt: skip
        super().__init__(argv, base / f"{machine_id}.log", dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.fixture
def agents(store, tmp_path) -> Iterator[dict[str, Agent]]:
    started = {
        "m1": Agent(store.url, tmp_path, "m1", "10.9.0.1", "region=eu,disk=ssd"),
        "m2": Agent(store.url, tmp_path, "m2", "10.9.0.2", "region=us"),
    }
    try:
        for agent in started.values():
            agent.spawn()
        with Client(store.url) as client:
            wait_until(lambda: _registered(client) == {"m1", "m2"}, 30, "agents registered")
        yield started
    finally:
        for agent in started.values():
            agent.stop()


def _plain(value: object) -> object:
    """ansible-inventory's JSON marks data from the store as unsafe (never templated):
    {"__ansible_unsafe": "10.9.0.1"}. The plain values, for comparison."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    return value


def _registered(client: Client) -> set[str]:
    try:
        return {n.name for n in client.get(MACHINES).node.nodes}
    except EtcdError:
        return set()


def test_ansible_inventory_lists_the_machines_of_a_running_cluster(
    agents, store, run_tool, tmp_path
):
    config = tmp_path / "lab.corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {store.url}\n")

    listed = run_tool(["ansible-inventory", "-i", str(config), "--list"])
    assert listed.returncode == 0, listed.stderr
    inventory = json.loads(listed.stdout)
    # named by machine id (the default)
    assert sorted(inventory["_meta"]["hostvars"]) == ["m1", "m2"]
    assert inventory["region_eu"]["hosts"] == ["m1"]
    assert inventory["region_us"]["hosts"] == ["m2"]
    assert inventory["disk_ssd"]["hosts"] == ["m1"]
    m1 = _plain(inventory["_meta"]["hostvars"]["m1"])
    assert isinstance(m1, dict)
    assert inventory["_meta"]["hostvars"]["m1"]["ansible_host"] == {"__ansible_unsafe": "10.9.0.1"}
    assert m1["ansible_host"] == "10.9.0.1" and m1["corral_machine_id"] == "m1"
    assert m1["corral_metadata"] == {"region": "eu", "disk": "ssd"}

    # the module reads the same registry on a managed host, warning about a broken record
    with Client(store.url) as client:
        client.set(f"{MACHINES}/broken", "not json", ttl=60)
    info = run_tool(
        ["ansible", "localhost", "-c", "local", "-m", "corral.cloud.machine_info",
         "-a", f"endpoint={store.url} metadata={{'region':'eu'}}"]
    )  # fmt: skip
    assert info.returncode == 0, info.stdout + info.stderr
    assert f"{MACHINES}/broken skipped: not a machine record" in info.stderr
    machines = json.loads(info.stdout.split("=>", 1)[1])["machines"]
    assert [(m["id"], m["ip"]) for m in machines] == [("m1", "10.9.0.1")]
    with Client(store.url) as client:
        client.delete(f"{MACHINES}/broken")

    # an agent that stops leaves the inventory once its heartbeat key is gone
    agents["m2"].stop()
    with Client(store.url) as client:
        wait_until(lambda: _registered(client) == {"m1"}, 30, "m2 gone")
    listed = run_tool(["ansible-inventory", "-i", str(config), "--list"])
    assert listed.returncode == 0, listed.stderr
    assert sorted(json.loads(listed.stdout)["_meta"]["hostvars"]) == ["m1"]
