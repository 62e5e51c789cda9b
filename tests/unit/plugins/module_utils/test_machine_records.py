"""The machines inventory's pure core: records to hosts, names and groups."""

from __future__ import annotations

import json

from ansible_collections.corral.cloud.plugins.module_utils.machines import (
    MachineHost,
    assign_names,
    group_name,
    read_machines,
)


def _record(machine_id: str, **fields: object) -> str:
    return json.dumps({"id": machine_id, **fields})


def test_records_become_hosts_with_their_unit_states():
    machines = {
        "m2": _record("m2", hostname="b", ip="10.0.0.2", metadata={"region": "us"}),
        "m1": _record("m1", hostname="a", ip="10.0.0.1", version="0.1.0", future="x"),
    }
    states = {
        "m1": {
            "app.service": json.dumps(
                {"load": "loaded", "active": "active", "sub": "running", "hash": "h"}
            ),
        },
        "gone": {"app.service": json.dumps({"active": "active"})},
        # the earlier states/<unit>/<machine> layout: no machine is called app.service
        "app.service": {"m2": json.dumps({"active": "active"})},
    }
    hosts, problems = read_machines(machines, states)
    assert problems == []
    assert [h.id for h in hosts] == ["m1", "m2"]
    m1 = hosts[0].host_vars()
    assert m1["corral_ip"] == "10.0.0.1" and m1["corral_version"] == "0.1.0"
    assert m1["corral_units"] == {
        "app.service": {"load": "loaded", "active": "active", "sub": "running"}
    }
    assert hosts[1].host_vars()["corral_units"] == {}


def test_broken_records_are_reported_and_skipped_not_fatal():
    machines = {"ok": _record("ok"), "bad": "not json", "list": "[1]"}
    states = {"ok": {"u.service": "{{"}, "nobody": {"u.service": "x"}, "odd": "value"}
    hosts, problems = read_machines(machines, states)
    assert [h.id for h in hosts] == ["ok"]
    assert len(problems) == 3
    assert any("/_corral/machines/bad" in p for p in problems)
    assert any("/_corral/states/ok/u.service" in p for p in problems)


def test_metadata_gives_valid_group_names():
    host = MachineHost("m", metadata={"region": "eu-west", "rack": "3", "disk": "ssd"})
    assert host.metadata_groups() == ["disk_ssd", "rack_3", "region_eu_west"]
    assert host.metadata_groups("meta") == ["meta_disk_ssd", "meta_rack_3", "meta_region_eu_west"]
    assert group_name("9lives") == "_9lives"


def test_names_follow_preference_and_shared_names_fall_back_to_ids():
    a = MachineHost("m1", hostname="web", ip="10.0.0.1")
    b = MachineHost("m2", hostname="web", ip="10.0.0.2")
    c = MachineHost("m3", hostname="", ip="10.0.0.3")
    d = MachineHost("m4", hostname="db", ip="10.0.0.4")
    assert list(assign_names([a, b, c, d], ["hostname", "id"])) == ["m1", "m2", "m3", "db"]
    assert list(assign_names([a, c], ["ip"])) == ["10.0.0.1", "10.0.0.3"]
