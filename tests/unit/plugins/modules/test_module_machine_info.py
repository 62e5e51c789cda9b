"""Module machine_info in-process against a real store holding fleet's records."""

from __future__ import annotations

import json

from ansible_collections.corral.cloud.plugins.modules import machine_info

from corral.client import Client


def _seed(endpoint: str) -> None:
    client = Client(endpoint)
    for machine_id, ip, metadata in (("m1", "10.0.0.1", {"region": "eu", "disk": "ssd"}),
                                     ("m2", "10.0.0.2", {"region": "eu"}),
                                     ("m3", "10.0.0.3", {"region": "us"})):  # fmt: skip
        record = {"id": machine_id, "hostname": "h", "ip": ip, "metadata": metadata}
        client.set(f"/_corral/machines/{machine_id}", json.dumps(record), ttl=60)
    client.set("/_corral/machines/broken", "{")
    client.set("/_corral/states/m2/app.service",
               json.dumps({"load": "loaded", "active": "active", "sub": "running"}))  # fmt: skip


def test_lists_machines_with_their_units_and_skips_broken_records(endpoint, run_module):
    _seed(endpoint)
    result = run_module(machine_info.main, {"endpoint": endpoint})
    assert result["changed"] is False
    assert [m["id"] for m in result["machines"]] == ["m1", "m2", "m3"]
    assert result["machines"][1]["units"] == {
        "app.service": {"load": "loaded", "active": "active", "sub": "running"}
    }


def test_filters_by_metadata_and_id(endpoint, run_module):
    _seed(endpoint)
    eu = run_module(machine_info.main, {"endpoint": endpoint, "metadata": {"region": "eu"}})
    assert [m["id"] for m in eu["machines"]] == ["m1", "m2"]
    both = {"region": "eu", "disk": "ssd"}
    ssd = run_module(machine_info.main, {"endpoint": endpoint, "metadata": both})
    assert [m["ip"] for m in ssd["machines"]] == ["10.0.0.1"]
    one = run_module(machine_info.main, {"endpoint": endpoint, "machine": "m3"})
    assert [m["metadata"] for m in one["machines"]] == [{"region": "us"}]


def test_an_empty_cluster_has_no_machines(endpoint, run_module):
    assert run_module(machine_info.main, {"endpoint": endpoint})["machines"] == []
