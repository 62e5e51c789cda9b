"""Inventory corral.cloud.machines read by Ansible's InventoryManager from a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from corral.client import Client
from corral.testing import free_port


def _machine(client: Client, machine_id: str, hostname: str, ip: str, **metadata: str) -> None:
    record = {"id": machine_id, "hostname": hostname, "ip": ip, "metadata": metadata,
              "drained": False, "version": "0.1.0", "journal": ""}  # fmt: skip
    client.set(f"/_corral/machines/{machine_id}", json.dumps(record), ttl=60)


def _inventory(config: Path, cache: bool = True) -> InventoryManager:
    return InventoryManager(loader=DataLoader(), sources=[str(config)], cache=cache)


@pytest.fixture
def cluster(endpoint: str) -> Client:
    client = Client(endpoint)
    _machine(client, "m1", "web1", "10.0.0.1", region="eu", disk="ssd")
    _machine(client, "m2", "web2", "10.0.0.2", region="us")
    client.set("/_corral/states/m1/app.service",
               json.dumps({"machine": "m1", "load": "loaded", "active": "active",
                           "sub": "running"}))  # fmt: skip
    return client


def test_machines_are_hosts_grouped_by_metadata(cluster, endpoint, tmp_path):
    config = tmp_path / "lab.corral.yml"
    config.write_text(
        f"plugin: corral.cloud.machines\nendpoint: {endpoint}\nhostnames: [hostname, id]\n"
        "keyed_groups:\n  - key: corral_version\n    prefix: version\n"
    )
    inventory = _inventory(config)
    assert sorted(h.name for h in inventory.get_hosts()) == ["web1", "web2"]
    assert [h.name for h in inventory.get_hosts("region_eu")] == ["web1"]
    assert [h.name for h in inventory.get_hosts("region_us")] == ["web2"]
    assert [h.name for h in inventory.get_hosts("disk_ssd")] == ["web1"]
    assert len(inventory.get_hosts("version_0_1_0")) == 2
    web1 = inventory.get_host("web1").get_vars()
    assert web1["ansible_host"] == "10.0.0.1" and web1["corral_machine_id"] == "m1"
    assert web1["corral_metadata"] == {"region": "eu", "disk": "ssd"}
    assert web1["corral_units"]["app.service"]["active"] == "active"


def test_an_empty_cluster_is_an_empty_inventory(endpoint, tmp_path):
    config = tmp_path / "corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {endpoint}\n")
    assert _inventory(config).get_hosts() == []


def test_cache_answers_until_flushed(cluster, endpoint, tmp_path):
    config = tmp_path / "cached.corral.yaml"
    config.write_text(
        f"plugin: corral.cloud.machines\nendpoint: {endpoint}\n"
        f"cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
        f"cache_connection: {tmp_path / 'cache'}\ncache_timeout: 600\n"
    )
    assert len(_inventory(config).get_hosts()) == 2
    cluster.delete("/_corral/machines/m2")
    assert sorted(h.name for h in _inventory(config).get_hosts()) == ["m1", "m2"]
    # --flush-cache reads the store again
    assert [h.name for h in _inventory(config, cache=False).get_hosts()] == ["m1"]
    assert [h.name for h in _inventory(config).get_hosts()] == ["m1"]


def test_an_unreachable_store_fails_the_source_naming_it(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "dead.corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {dead}\ntimeout: 1\n")
    plugin = inventory_loader.get("corral.cloud.machines")
    empty = InventoryManager(loader=DataLoader(), sources=[])
    with pytest.raises(AnsibleError) as exc:
        plugin.parse(empty._inventory, DataLoader(), str(config), cache=False)
    assert "cannot reach store" in str(exc.value) and dead in str(exc.value)


def test_unknown_hostname_sources_are_refused(endpoint, tmp_path):
    config = tmp_path / "bad.corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {endpoint}\nhostnames: [fqdn]\n")
    plugin = inventory_loader.get("corral.cloud.machines")
    empty = InventoryManager(loader=DataLoader(), sources=[])
    refused = r"hostnames can only be hostname, id, ip, not \['fqdn'\]"
    with pytest.raises(AnsibleError, match=refused):
        plugin.parse(empty._inventory, DataLoader(), str(config), cache=False)


def test_odd_values_from_the_store_make_no_names_and_warn(endpoint, tmp_path, capsys):
    client = Client(endpoint)
    _machine(client, "m1", "web1", "10.0.0.1", region="eu", blob="x" * 1_000_000)
    client.set("/_corral/machines/m2/oops", "a directory where a record belongs")
    client.set("/_corral/states/m1", "a key where a directory belongs")
    config = tmp_path / "odd.corral.yml"
    config.write_text(
        f"plugin: corral.cloud.machines\nendpoint: {endpoint}\nmetadata_group_prefix: meta\n"
        "keyed_groups:\n  - key: corral_metadata.blob | default('none')\n    prefix: blob\n"
    )
    inventory = _inventory(config, cache=False)
    assert [h.name for h in inventory.get_hosts()] == ["m1"]
    assert "meta_region_eu" in inventory.groups and "blob_none" in inventory.groups
    assert max(len(name) for name in inventory.groups) <= len("meta_") + 128
    assert inventory.get_host("m1").get_vars()["corral_metadata"] == {"region": "eu"}
    warnings = " ".join(capsys.readouterr().err.split())
    assert "/_corral/machines/m1: metadata ['blob'] ignored" in warnings
    assert "/_corral/machines/m2 skipped: a directory, not a machine record" in warnings
    assert "/_corral/states/m1 ignored: a key, not a directory of unit states" in warnings


def test_max_name_length_lets_an_operator_allow_longer_group_names(endpoint, tmp_path):
    _machine(Client(endpoint), "m1", "web1", "10.0.0.1", rack="r" * 200)
    config = tmp_path / "long.corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {endpoint}\n")
    assert "rack_" + "r" * 200 not in _inventory(config, cache=False).groups
    config.write_text(config.read_text() + "max_name_length: 205\n")
    assert "rack_" + "r" * 200 in _inventory(config, cache=False).groups
    config.write_text(config.read_text().replace("205", "0"))
    plugin = inventory_loader.get("corral.cloud.machines")
    empty = InventoryManager(loader=DataLoader(), sources=[])
    with pytest.raises(AnsibleError, match="max_name_length must be at least 1"):
        plugin.parse(empty._inventory, DataLoader(), str(config), cache=False)


def test_extra_variables_reach_the_inventory_as_documented(cluster, endpoint, tmp_path):
    """The documented `corral_endpoint` variable: an inventory is read before host
    variables exist, but `-e` ones reach it (and beat the environment)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[4]
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(repo)
    config = tmp_path / "lab.corral.yml"
    config.write_text("plugin: corral.cloud.machines\nuse_extra_vars: true\n"
                      "compose:\n  from_extra: corral_hostname ~ '@' ~ site\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
               ANSIBLE_INVENTORY_ENABLED="corral.cloud.machines",
               CORRAL_ENDPOINT=f"http://127.0.0.1:{free_port()}")  # fmt: skip
    bindir = Path(sys.executable).parent
    done = subprocess.run([str(bindir / "ansible-inventory"), "-i", str(config), "--list",
                           "-e", f"corral_endpoint={endpoint}", "-e", "site=lab"],
                          env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    hostvars = json.loads(done.stdout)["_meta"]["hostvars"]
    assert sorted(hostvars) == ["m1", "m2"]
    composed = hostvars["m1"]["from_extra"]  # a template's result is marked unsafe
    assert composed in ("web1@lab", {"__ansible_unsafe": "web1@lab"})
