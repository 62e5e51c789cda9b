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


def test_a_machine_is_named_by_its_key_never_by_the_id_in_its_record():
    machines = {
        "m2": _record("m2", ip="10.0.0.2"),
        "m3": _record("m2", ip="10.6.6.6"),  # m3's agent claims to be m2
        "m4": json.dumps({"ip": "10.0.0.4"}),  # no id: the key says who it is
    }
    hosts, problems = read_machines(machines, {})
    assert [(h.id, h.ip) for h in hosts] == [("m2", "10.0.0.2"), ("m4", "10.0.0.4")]
    assert problems == [
        "/_corral/machines/m3 skipped: it claims to be machine 'm2'; a machine is named by"
        " the key only its own agent may write"
    ]


def test_untrusted_values_are_dropped_with_one_warning_each():
    huge = "x" * 2_000_000
    machines = {
        "m1": _record(
            "m1",
            hostname="web 1; rm -rf",
            ip=huge,
            version=huge,
            drained="false",  # a string: not the flag
            metadata={"region": "eu", "big": huge, "nested": {"a": "b"}, "n": 1},
        ),
        "m2": _record("m2", metadata=["region", "eu"]),
        "dir": {"nested": "x"},
        "bad id!": _record("bad id!"),
        "y" * 200: _record("y" * 200),
    }
    states = {
        "m1": {"a.service": {"deeper": "x"}, "x" * 300 + ".service": "{}", "not a unit": "{}"},
        "m2": "a key where a directory belongs",
    }
    hosts, problems = read_machines(machines, states)
    m1, m2 = hosts
    assert (m1.hostname, m1.ip, m1.version, m1.drained) == ("", "", "", False)
    assert m1.metadata == {"region": "eu"} and m1.metadata_groups() == ["region_eu"]
    assert m2.metadata == {} and m1.units == {} and m2.units == {}
    assert len(problems) == 13
    assert all(len(p) < 300 for p in problems), "a huge value is cut short in a warning"
    text = "\n".join(problems)
    for expected in (
        "/_corral/machines/m1: hostname ignored: not a host name: 'web 1; rm -rf'",
        "/_corral/machines/m1: ip ignored: not an IP address or host name: 'xxx",
        "(2000000 characters)",
        "/_corral/machines/m1: version ignored: not printable text of at most 128 characters",
        "/_corral/machines/m1: drained ignored: not true or false: 'false'",
        "/_corral/machines/m1: metadata ['big', 'n', 'nested'] ignored",
        "/_corral/machines/m2: metadata ignored: not an object: ['region', 'eu']",
        "/_corral/machines/dir skipped: a directory, not a machine record",
        "'/_corral/machines/bad id!' skipped: the key is no machine id",
        "/_corral/states/m1/a.service ignored: not a unit state (a JSON object): a directory",
        "/_corral/states/m1/'not a unit' ignored: not a unit name",
        "/_corral/states/m2 ignored: a key, not a directory of unit states",
    ):
        assert expected in text, expected


def test_the_group_name_limit_is_crossed_at_max_name():
    fits = {"k": "v" * 126}  # group k_vvv...: 128 characters
    hosts, problems = read_machines({"m": _record("m", metadata=fits)}, {})
    assert problems == [] and len(hosts[0].metadata_groups()[0]) == 128
    hosts, problems = read_machines({"m": _record("m", metadata={"k": "v" * 127})}, {})
    assert hosts[0].metadata == {} and "at most 128 characters" in problems[0]
    hosts, problems = read_machines({"m": _record("m", metadata={"k": "v" * 127})}, {}, 129)
    assert problems == [] and hosts[0].metadata_groups() == ["k_" + "v" * 127]


def test_addresses_and_host_names_that_are_fine():
    record = _record("m", hostname="web-1.example.com", ip="fd00::7", version="v1.2.3-rc1")
    hosts, problems = read_machines({"m": record, "n": _record("n", ip="store.lan")}, {})
    assert problems == []
    assert (hosts[0].hostname, hosts[0].ip) == ("web-1.example.com", "fd00::7")
    assert hosts[1].ip == "store.lan"


def test_a_key_where_the_machines_directory_belongs_is_reported():
    assert read_machines("a key", {}) == ([], [
        "/_corral/machines ignored: a key, not the directory of machine records"
    ])  # fmt: skip
