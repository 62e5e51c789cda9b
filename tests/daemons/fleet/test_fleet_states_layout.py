"""Unit states live at `states/<machine>/<unit>`, so a store role can confine each
agent to its own; keys of the earlier `states/<unit>/<machine>` layout are ignored by
readers and deleted by the elected engine."""

from __future__ import annotations

from pathlib import Path

from fleet_harness import LOOP, Fleet

from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.fleet.records import (
    MachineRecord,
    StateRecord,
    encode,
    legacy_state_key,
    state_key,
    state_key_parts,
)
from corral.testing import StoreServer, wait_until


def test_state_keys_name_the_machine_first() -> None:
    assert state_key("m1", "web@1.service") == "/_corral/states/m1/web@1.service"
    assert state_key_parts("/_corral/states/m1/web@1.service") == ("m1", "web@1.service")
    assert state_key_parts("/_corral/states/web.service/m1") is None  # earlier layout
    assert state_key_parts("/_corral/states/m1") is None
    assert state_key_parts("/_corral/states/m1/a.service/x") is None
    assert legacy_state_key("/_corral/states/web.service/m1")
    assert not legacy_state_key("/_corral/states/m1/web.service")
    assert not legacy_state_key("/_corral/units/web.service")


def test_readers_skip_the_earlier_layout() -> None:
    active = encode(StateRecord("m1", active="active"))
    c = Cluster.from_values(
        {
            "/_corral/machines/m1": encode(MachineRecord("m1")),
            "/_corral/states/web.service/m1": active,
            "/_corral/states/m1/db.service": active,
        }
    )
    assert {u: sorted(by) for u, by in c.states.items()} == {"db.service": ["m1"]}


def test_the_engine_deletes_earlier_layout_states_and_agents_report_in_the_new_one(
    store: StoreServer, tmp_path: Path
) -> None:
    fleet = Fleet(store.url, tmp_path / "fleet")
    try:
        old = "/_corral/states/web.service/m1"
        fleet.client.set(old, encode(StateRecord("m1", active="active")))
        fleet.add("m1")
        fleet.wait_machines("m1")
        fleet.ctl("unit", "start", fleet.unit_file("web.service", LOOP))
        assert fleet.wait_active("web.service") == "m1"
        assert fleet.client.get(state_key("m1", "web.service")).node.value

        def old_gone() -> bool:
            try:
                fleet.client.get(old)
            except KeyNotFound:
                return True
            return False

        wait_until(old_gone, 20, "earlier-layout state deleted", interval=0.1)
    finally:
        fleet.close()
