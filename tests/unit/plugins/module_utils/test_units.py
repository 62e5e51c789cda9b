"""The unit modules' pure core: what record to store, and when the cluster has
reached the state asked for."""

from __future__ import annotations

import json

import pytest
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.units import (
    ClusterView,
    UnitState,
    UnitWanted,
    plan_unit,
)

from corral.fleet.records import UnitRecord, decode, encode

FILE = "[Service]\nExecStart=/bin/sleep 60\n"


def test_a_record_is_written_as_corralctl_writes_it():
    state = UnitState("web.service", FILE, "launched", {"m1": "tok"})
    assert state.dump() == encode(UnitRecord("web.service", FILE, "launched", {"m1": "tok"}))
    assert UnitState.parse("web.service", state.dump()) == state
    assert decode(UnitRecord, state.dump()).restart == {"m1": "tok"}


def test_a_new_state_keeps_the_file_and_restart_tokens():
    current = UnitState("web.service", FILE, "launched", {"m1": "tok"})
    after = plan_unit(current, UnitWanted("web.service", True, "loaded"), None)
    assert after == UnitState("web.service", FILE, "loaded")
    assert after is not None and after.restart == {"m1": "tok"}
    assert plan_unit(current, UnitWanted("web.service", True, "launched", FILE), None) == current


def test_an_instance_takes_its_templates_file():
    after = plan_unit(None, UnitWanted("w@1.service", True, "launched"), FILE)
    assert after is not None and after.contents == FILE


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (UnitWanted("web.service", True, "launched"), "give content or src"),
        (UnitWanted("w@.service", True, "launched", FILE), "start an instance such as w@1.service"),
        (UnitWanted("web.service", True, "launched", "[X-Fleet]\nNope=1\n"), "unknown [X-Fleet]"),
        (UnitWanted("web", True, "launched", FILE), "invalid unit name 'web'"),
    ],
)
def test_refusals_say_what_to_change(wanted, message):
    with pytest.raises(Refused, match=message.replace("[", r"\[")):
        plan_unit(None, wanted, None)


def test_a_broken_record_is_refused_by_name():
    with pytest.raises(Refused, match=r"/_corral/units/web\.service is not a unit record"):
        UnitState.parse("web.service", "{")


def _tree(active: str | None, machine_alive: bool = True, global_: bool = False) -> dict:
    contents = FILE + ("[X-Fleet]\nGlobal=true\n" if global_ else "")
    tree: dict = {
        "machines": {"m1": "{}"} if machine_alive else {},
        "units": {"web.service": UnitState("web.service", contents, "launched").dump()},
        "schedule": {} if global_ else {"web.service": json.dumps({"machine": "m1"})},
        "states": {},
    }
    if active is not None:
        tree["states"]["m1"] = {"web.service": json.dumps({"active": active, "sub": "x"})}
    return tree


def test_reached_follows_what_live_machines_report():
    assert ClusterView.of(_tree("active")).reached("web.service", "launched")
    assert not ClusterView.of(_tree("activating")).reached("web.service", "launched")
    assert not ClusterView.of(_tree(None)).reached("web.service", "launched")
    assert ClusterView.of(_tree("failed")).reached("web.service", "loaded")
    assert not ClusterView.of(_tree("active")).reached("web.service", "inactive")
    assert ClusterView.of(_tree(None)).reached("web.service", None)
    # a dead machine's last report does not count
    assert ClusterView.of(_tree("active", machine_alive=False)).reached("web.service", None)
    # the earlier states/<unit>/<machine> layout is not read
    earlier = _tree(None)
    earlier["states"]["web.service"] = {"m1": json.dumps({"active": "active"})}
    assert ClusterView.of(earlier).reached("web.service", None)
    # global units are not waited for
    assert ClusterView.of(_tree(None, global_=True)).reached("web.service", "launched")


def test_describe_shows_placement_and_states():
    described = ClusterView.of(_tree("active")).describe("web.service")
    assert described["state"] == "launched" and described["machine"] == "m1"
    assert described["states"] == {"m1": {"active": "active", "sub": "x"}}
    assert described["desired"] == "launched" and len(described["hash"]) == 40
    assert ClusterView.of("not a tree").units == {}


def test_an_unplaced_unit_has_no_machine_and_says_why():
    tree = {"units": {"web.service": json.dumps({"name": "web.service", "contents": "[Service]\n",
                                                 "desired": "launched"})},
            "schedule": {"web.service": json.dumps({"machine": "", "reason": "no machine has "
                                                    "metadata role=web"})}}  # fmt: skip
    described = ClusterView.of(tree).describe("web.service")
    assert described["machine"] is None
    assert described["reason"] == "no machine has metadata role=web"
