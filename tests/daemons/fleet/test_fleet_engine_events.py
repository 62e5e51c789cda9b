"""The engine's reading of store records, fed in-memory events (no store, no threads)."""

from __future__ import annotations

from corral.fleet.engine import Engine
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
from corral.fleet.scheduler import Change, Scheduler
from corral.fleet.watched_keys import CopyChange

LOOP = "[Service]\nExecStart=/bin/sleep 60\n"


def _machine(mid: str, **kw: object) -> tuple[str, str]:
    return f"{MACHINES}/{mid}", encode(MachineRecord(mid, **kw))  # type: ignore[arg-type]


def _unit(name: str, contents: str = LOOP, desired: str = "launched") -> tuple[str, str]:
    return f"{UNITS}/{name}", encode(UnitRecord(name, contents, desired))


def test_a_new_engine_fixes_placements_on_machines_that_are_gone() -> None:
    engine = Engine("http://127.0.0.1:9", "m1", ttl=2)
    sched = Scheduler()
    snapshot = dict(
        [
            _machine("m1"),
            _machine("m2", drained=True),
            _unit("a.service"),
            _unit("b.service"),
            _unit("t@.service"),  # a template: never placed
            _unit("broken.service", "[Service\n"),  # refused, not fatal
            (f"{SCHEDULE}/a.service", encode(ScheduleRecord("gone"))),
            (f"{SCHEDULE}/b.service", encode(ScheduleRecord("m1"))),
            (f"{UNITS}/junk.service", "not json"),
        ]
    )
    engine.feed(sched, CopyChange("reset", snapshot=snapshot))
    changes = sorted(sched.decide(), key=lambda c: c.unit)
    assert [(c.unit, c.old, c.new) for c in changes] == [
        ("a.service", "gone", "m1"),
        ("broken.service", None, None),  # refused: the reason is stored instead
        ("junk.service", None, None),
    ]
    assert changes[1].reason == "refused: broken.service: line 1: bad section header '[Service'"
    assert changes[2].reason.startswith("refused: not a UnitRecord: 'not json'")
    assert sched.placement == {"a.service": "m1", "b.service": "m1"}


def test_events_move_units_and_count_failures() -> None:
    engine = Engine("http://127.0.0.1:9", "m1", ttl=2, max_failures=2)
    sched = Scheduler(max_failures=2)
    for key, value in (_machine("m1"), _machine("m2"), _unit("u.service")):
        engine.feed(sched, CopyChange("set", key=key, value=value))
    (first,) = sched.decide()
    where = first.new
    assert where in ("m1", "m2")
    failing = StateRecord(where, active="failed", sub="failed", failures=2)  # type: ignore[arg-type]
    engine.feed(sched, CopyChange("set", key=state_key(where, "u.service"), value=encode(failing)))
    other = "m2" if where == "m1" else "m1"
    assert sched.decide() == [Change("u.service", where, other)]
    engine.feed(sched, CopyChange("delete", key=f"{MACHINES}/{other}"))
    # the only machine left is one it failed on: it goes back there rather than nowhere
    assert sched.decide() == [Change("u.service", other, where)]
    engine.feed(sched, CopyChange("delete", key=f"{UNITS}/"))  # the whole directory went
    assert sched.decide() == [Change("u.service", where, None)]
    assert sched.placement == {}


def test_a_failure_reported_in_the_earlier_states_layout_moves_nothing() -> None:
    engine = Engine("http://127.0.0.1:9", "m1", ttl=2, max_failures=1)
    sched = Scheduler(max_failures=1)
    for key, value in (_machine("m1"), _machine("m2"), _unit("u.service")):
        engine.feed(sched, CopyChange("set", key=key, value=value))
    (first,) = sched.decide()
    old_key = f"/_corral/states/u.service/{first.new}"  # states/<unit>/<machine>
    failing = encode(StateRecord(first.new or "", active="failed", failures=5))
    engine.feed(sched, CopyChange("set", key=old_key, value=failing))
    assert sched.decide() == []  # not read as a failure report
    current_key = state_key(first.new or "", "u.service")
    engine.feed(sched, CopyChange("set", key=current_key, value=failing))
    assert [c.old for c in sched.decide()] == [first.new]  # the current layout is


def test_a_deleted_directory_forgets_its_keys_even_one_named_like_a_directory() -> None:
    engine = Engine("http://127.0.0.1:9", "m1", ttl=2)
    sched = Scheduler()
    for key, value in (_machine("m1"), _machine("m2"), _unit("u.service")):
        engine.feed(sched, CopyChange("set", key=key, value=value))
    (first,) = sched.decide()
    other = "m2" if first.new == "m1" else "m1"
    # a key that ends in "/" (written by hand) used to make the delete recurse forever
    engine.feed(sched, CopyChange("set", key=f"{MACHINES}/odd/", value="junk"))
    engine.feed(sched, CopyChange("delete", key=f"{MACHINES}/"))
    assert not sched.machines, sched.machines
    engine.feed(sched, CopyChange("set", key=f"{MACHINES}/{other}", value=_machine(other)[1]))
    assert [c.new for c in sched.decide()] == [other]  # the unit moves to the one left
