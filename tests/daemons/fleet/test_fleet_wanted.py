"""The agent's wanted set, fed in-memory events: each event keeps it equal to a full
recomputation, and only the changed unit is looked at again."""

from __future__ import annotations

import random

from corral.fleet.convergence import Wanted
from corral.fleet.records import (
    MACHINES,
    SCHEDULE,
    UNITS,
    MachineRecord,
    ScheduleRecord,
    StateRecord,
    UnitRecord,
    encode,
    state_key,
)
from corral.fleet.spec import unit_spec
from corral.fleet.wanted import WantedSet
from corral.fleet.watched_keys import CopyChange, apply

LOOP = "[Service]\nExecStart=/bin/sleep 60\n"
GLOBAL_SSD = LOOP + "[X-Fleet]\nGlobal=true\nMachineMetadata=disk=ssd\n"


def _feed(ws: WantedSet, view: dict[str, str], *events: CopyChange) -> bool:
    changed = False
    for ev in events:
        apply(view, ev)
        changed = ws.apply(view, ev) or changed
    return changed


def _set(key: str, record: object) -> CopyChange:
    return CopyChange("set", key=key, value=encode(record))


def _full(view: dict[str, str], mid: str, metadata: dict[str, str]) -> dict[str, Wanted]:
    fresh = WantedSet(MachineRecord(mid, metadata=dict(metadata)))
    fresh.apply(view, CopyChange("reset", snapshot=dict(view)))
    return fresh.units


def test_scheduled_and_matching_global_units_are_wanted_others_are_not() -> None:
    ws, view = WantedSet(MachineRecord("m1", metadata={"disk": "ssd"})), {}
    _feed(
        ws,
        view,
        CopyChange("reset", snapshot={}),
        _set(f"{UNITS}/a.service", UnitRecord("a.service", LOOP, "launched")),
        _set(f"{UNITS}/b.service", UnitRecord("b.service", LOOP, "loaded")),
        _set(f"{UNITS}/g.service", UnitRecord("g.service", GLOBAL_SSD, "launched")),
        _set(f"{UNITS}/t@.service", UnitRecord("t@.service", LOOP, "launched")),
        _set(f"{SCHEDULE}/a.service", ScheduleRecord("m1")),
        _set(f"{SCHEDULE}/b.service", ScheduleRecord("m2")),
    )
    assert sorted(ws.units) == ["a.service", "g.service"]
    assert ws.units["a.service"] == Wanted(unit_spec("a.service", LOOP).hash, LOOP, "launched")
    # the placement moves here, then the unit is stopped by its user
    assert _feed(ws, view, _set(f"{SCHEDULE}/b.service", ScheduleRecord("m1")))
    assert ws.units["b.service"].desired == "loaded"
    assert _feed(ws, view, _set(f"{UNITS}/a.service", UnitRecord("a.service", LOOP, "inactive")))
    assert sorted(ws.units) == ["b.service", "g.service"]


def test_states_and_other_machines_change_nothing() -> None:
    ws, view = WantedSet(MachineRecord("m1")), {}
    _feed(ws, view, CopyChange("reset", snapshot={}))
    _feed(ws, view, _set(f"{UNITS}/a.service", UnitRecord("a.service", LOOP, "launched")))
    _feed(ws, view, _set(f"{SCHEDULE}/a.service", ScheduleRecord("m1")))
    assert not _feed(
        ws,
        view,
        _set(state_key("m1", "a.service"), StateRecord("m1", active="active")),
        _set(f"{MACHINES}/m2", MachineRecord("m2", drained=True)),
        CopyChange("delete", key=f"{MACHINES}/m3"),
    )
    assert list(ws.units) == ["a.service"]


def test_draining_this_machine_or_changing_its_metadata_recomputes_everything() -> None:
    ws, view = WantedSet(MachineRecord("m1", metadata={"disk": "ssd"})), {}
    _feed(
        ws,
        view,
        CopyChange("reset", snapshot={}),
        _set(f"{UNITS}/g.service", UnitRecord("g.service", GLOBAL_SSD, "launched")),
        _set(f"{MACHINES}/m1", MachineRecord("m1", metadata={"disk": "ssd"})),
    )
    assert list(ws.units) == ["g.service"]
    assert _feed(ws, view, _set(f"{MACHINES}/m1", MachineRecord("m1", metadata={"disk": "hdd"})))
    assert ws.units == {} and ws.record.metadata == {"disk": "hdd"}
    _feed(ws, view, _set(f"{MACHINES}/m1", MachineRecord("m1", metadata={"disk": "ssd"})))
    assert _feed(
        ws,
        view,
        _set(
            f"{MACHINES}/m1",
            MachineRecord("m1", {}, drained=True)
            if False
            else MachineRecord("m1", metadata={"disk": "ssd"}, drained=True),
        ),
    )
    assert ws.units == {}


def test_any_sequence_of_events_matches_a_full_recomputation() -> None:
    rng = random.Random(5)
    names = [f"u{i}.service" for i in range(12)]
    contents = [LOOP, GLOBAL_SSD, LOOP + "\n# v2\n"]
    ws, view = WantedSet(MachineRecord("m1")), {}
    _feed(ws, view, CopyChange("reset", snapshot={}))
    for step in range(2000):
        name = rng.choice(names)
        roll = rng.random()
        if roll < 0.3:
            desired = rng.choice(["inactive", "loaded", "launched"])
            ev = _set(f"{UNITS}/{name}", UnitRecord(name, rng.choice(contents), desired))
        elif roll < 0.45:
            ev = CopyChange("delete", key=f"{UNITS}/{name}")
        elif roll < 0.75:
            ev = _set(f"{SCHEDULE}/{name}", ScheduleRecord(rng.choice(["m1", "m2"])))
        elif roll < 0.85:
            ev = CopyChange("delete", key=f"{SCHEDULE}/{name}")
        elif roll < 0.95:
            meta = rng.choice([{}, {"disk": "ssd"}])
            ev = _set(
                f"{MACHINES}/m1", MachineRecord("m1", metadata=meta, drained=rng.random() < 0.2)
            )
        else:
            ev = CopyChange("delete", key=f"{SCHEDULE}/")
        _feed(ws, view, ev)
        assert ws.units == _full(view, "m1", ws.record.metadata), f"after step {step}: {ev}"
