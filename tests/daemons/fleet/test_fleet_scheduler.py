"""The engine's placement core, driven with plain calls (an in-memory cluster)."""

from __future__ import annotations

from corral.fleet.scheduler import Change, Machine, Scheduler
from corral.fleet.spec import unit_spec


def spec(name: str, xfleet: str = ""):
    return unit_spec(name, f"[Service]\nExecStart=/bin/true\n[X-Fleet]\n{xfleet}\n")


def cluster(*machines: Machine, max_failures: int = 3) -> Scheduler:
    s = Scheduler(max_failures=max_failures)
    for m in machines:
        s.machine_up(m)
    return s


def start(s: Scheduler, name: str, xfleet: str = "", desired: str = "launched") -> None:
    s.unit_set(spec(name, xfleet), desired)


def test_least_loaded_spreads_units() -> None:
    s = cluster(Machine("a"), Machine("b"), Machine("c"))
    for i in range(9):
        start(s, f"u{i}.service")
    changes = s.decide()
    assert len(changes) == 9 and all(c.old is None for c in changes)
    assert [s.load(m) for m in "abc"] == [3, 3, 3]


def test_inactive_units_are_not_placed_and_loaded_ones_are() -> None:
    s = cluster(Machine("a"))
    start(s, "x.service", desired="inactive")
    start(s, "y.service", desired="loaded")
    assert s.decide() == [Change("y.service", None, "a")]
    start(s, "y.service", desired="inactive")
    assert s.decide() == [Change("y.service", "a", None)]


def test_machine_id_and_metadata_constraints() -> None:
    s = cluster(
        Machine("a", {"region": "eu", "disk": "hdd", "ram": "1024"}),
        Machine("b", {"region": "eu", "disk": "ssd", "ram": "4096"}),
        Machine("c", {"region": "us", "disk": "ssd", "ram": "8192"}),
    )
    start(s, "pin.service", "MachineID=c")
    start(s, "eu-ssd.service", "MachineMetadata=region=eu disk=ssd")
    start(s, "eu-or-us.service", "MachineMetadata=region=eu\nMachineMetadata=region=us")
    start(s, "not-hdd.service", "MachineMetadata=disk!=hdd ram<=4096")
    start(s, "big.service", "MachineMetadata=ram>4096")
    start(s, "nowhere.service", "MachineMetadata=region=ap")
    s.decide()
    assert s.placement["pin.service"] == "c"
    assert s.placement["eu-ssd.service"] == "b"
    assert s.placement["eu-or-us.service"] == "a"  # the only empty eligible one
    assert s.placement["not-hdd.service"] == "b"
    assert s.placement["big.service"] == "c"
    assert "nowhere.service" not in s.placement
    assert s.blocked() == {"nowhere.service"}
    # a machine that fits appears: the blocked unit is placed then
    s.machine_up(Machine("d", {"region": "ap"}))
    unmatched = "no machine matches MachineMetadata=region=ap"
    assert s.decide() == [Change("nowhere.service", None, "d", old_reason=unmatched)]


def test_conflicts_with_globs_in_both_directions() -> None:
    s = cluster(Machine("a"), Machine("b"))
    start(s, "web@1.service", "Conflicts=web@*.service")
    start(s, "web@2.service", "Conflicts=web@*.service")
    start(s, "web@3.service", "Conflicts=web@*.service")
    start(s, "db.service")
    s.decide()
    assert {s.placement["web@1.service"], s.placement["web@2.service"]} == {"a", "b"}
    assert "web@3.service" not in s.placement
    # declared on one side only still applies to the other
    start(s, "solo.service", "Conflicts=db.service")
    s.decide()
    assert s.placement["solo.service"] != s.placement["db.service"]


def test_machine_of_chains_follow_their_target() -> None:
    s = cluster(Machine("a"), Machine("b"), Machine("c"))
    start(s, "tail.service", "MachineOf=mid.service")  # before its target exists
    start(s, "mid.service", "MachineOf=head.service")
    assert {c.unit: (c.new, c.reason) for c in s.decide()} == {
        "mid.service": (None, "MachineOf=head.service: head.service is not placed"),
        "tail.service": (None, "MachineOf=mid.service: mid.service is not placed"),
    }
    start(s, "head.service")
    s.decide()
    where = s.placement["head.service"]
    assert s.placement["mid.service"] == where and s.placement["tail.service"] == where
    s.machine_down(where)
    s.decide()
    moved = s.placement["head.service"]
    assert moved != where
    assert s.placement["mid.service"] == moved and s.placement["tail.service"] == moved


def test_replaces_evicts_the_replaced_unit() -> None:
    s = cluster(Machine("a", {"role": "x"}), Machine("b"))
    start(s, "old.service", "MachineMetadata=role!=none")
    s.decide()
    assert s.placement["old.service"] == "a"  # a and b tie: by id
    start(s, "new.service", "Replaces=old.service\nMachineMetadata=role=x")
    changes = s.decide()
    assert s.placement == {"new.service": "a", "old.service": "b"}
    assert Change("old.service", "a", "b") in changes
    # and it cannot come back while the replacing unit holds the machine
    s.machine_down("b")
    s.decide()
    assert "old.service" not in s.placement


def test_lost_and_drained_machines_lose_their_units() -> None:
    s = cluster(Machine("a"), Machine("b"))
    start(s, "m.service")
    s.decide()
    first = s.placement["m.service"]
    other = "b" if first == "a" else "a"
    s.machine_down(first)
    assert s.decide() == [Change("m.service", first, other)]
    s.machine_up(Machine(first))
    s.machine_up(Machine(other, drained=True))
    assert s.decide() == [Change("m.service", other, first)]


def test_global_units_are_left_to_the_agents() -> None:
    s = cluster(Machine("a"))
    start(s, "g.service", "Global=true")
    assert s.decide() == []


def test_repeated_failures_move_the_unit_unless_nowhere_else_fits() -> None:
    s = cluster(Machine("a"), Machine("b"), max_failures=2)
    start(s, "flaky.service", "MachineID=a")
    start(s, "f2.service")
    s.decide()
    s.failed("flaky.service", "a", 5)
    assert s.decide() == []  # MachineID=a: there is no better place
    where = s.placement["f2.service"]
    s.failed("f2.service", where, 1)
    assert s.decide() == []
    s.failed("f2.service", where, 2)
    (change,) = s.decide()
    assert change.old == where and change.new not in (where, None)


def test_placements_read_from_the_store_are_adopted_or_fixed() -> None:
    s = cluster(Machine("a"), Machine("b", {"disk": "hdd"}))
    start(s, "keep.service")
    start(s, "fix.service", "MachineMetadata=disk=ssd")
    start(s, "gone.service")
    s.placed("keep.service", "b")
    s.placed("fix.service", "b")  # no longer fits
    s.placed("gone.service", "zz")  # machine unknown
    changes = {c.unit: c for c in s.decide()}
    assert "keep.service" not in changes and s.placement["keep.service"] == "b"
    assert changes["fix.service"] == Change(
        "fix.service", "b", None, reason="no machine matches MachineMetadata=disk=ssd"
    )
    assert changes["gone.service"] == Change("gone.service", "zz", "a")


def test_thousand_machines_ten_thousand_units_stays_incremental() -> None:
    # correctness at scale; speed is measured by `make bench`, not here
    s = cluster(*(Machine(f"m{i:04}", {"rack": str(i % 10)}) for i in range(1000)))
    for i in range(10_000):
        xfleet = f"MachineMetadata=rack={i % 10}" if i % 2 else ""
        start(s, f"u{i}.service", xfleet)
    assert len(s.decide()) == 10_000
    assert (
        max(s.load(f"m{i:04}") for i in range(1000)) - min(s.load(f"m{i:04}") for i in range(1000))
        <= 2
    )
    lost = s.load("m0007")
    s.machine_down("m0007")
    changes = s.decide()
    assert len(changes) == lost and all(c.old == "m0007" for c in changes)


def test_metadata_matching_many_machines_still_places_least_loaded() -> None:
    eu = [Machine(f"eu{i:03d}", {"region": "eu"}) for i in range(200)]
    us = [Machine(f"us{i:03d}", {"region": "us"}) for i in range(100)]
    s = cluster(*eu, *us, Machine("eu-drained", {"region": "eu"}, drained=True))
    for i in range(400):
        start(s, f"u{i}.service", "MachineMetadata=region=eu")
    assert len(s.decide()) == 400
    assert {s.load(m.id) for m in eu} == {2} and {s.load(m.id) for m in us} == {0}
    assert s.load("eu-drained") == 0
    # and a unit that also excludes most of them still finds the one that fits
    start(s, "last.service", "MachineMetadata=region=eu\nConflicts=u*")
    conflict = "every machine it may run on has a unit it conflicts with (Conflicts=, Replaces=)"
    assert s.decide() == [Change("last.service", None, None, reason=conflict)]
    s.machine_up(Machine("eu-new", {"region": "eu"}))
    assert s.decide() == [Change("last.service", None, "eu-new", old_reason=conflict)]


def test_why_a_unit_is_not_placed_is_returned_and_cleared() -> None:
    s = Scheduler()
    start(s, "any.service")
    assert s.decide() == [Change("any.service", None, None, reason="no machine is up")]
    s.machine_up(Machine("a", {"disk": "hdd"}, drained=True))
    start(s, "ssd.service", "MachineMetadata=disk=ssd")
    start(s, "pin.service", "MachineID=b")
    start(s, "fast.service", "MachineMetadata=cpus>4")
    why = {c.unit: c.reason for c in s.decide()}
    assert why == {  # any.service: still nowhere, but for another reason
        "any.service": "every machine it may run on is drained",
        "ssd.service": "no machine matches MachineMetadata=disk=ssd",
        "pin.service": "no machine has MachineID=b",
        "fast.service": "no machine matches MachineMetadata=cpus>4",
    }
    assert s.decide() == []  # the same reasons are not returned again
    # the unit is stopped: its reason goes; refused: the refusal is the reason
    start(s, "pin.service", "MachineID=b", desired="inactive")
    s.unit_refused("ssd.service", "ssd.service: line 1: bad section header")
    changes = {c.unit: (c.old_reason, c.reason) for c in s.decide()}
    assert changes == {
        "pin.service": ("no machine has MachineID=b", ""),
        "ssd.service": (
            "no machine matches MachineMetadata=disk=ssd",
            "refused: ssd.service: line 1: bad section header",
        ),
    }
    s.machine_up(Machine("a", {"disk": "hdd", "cpus": "8"}))  # undrained
    placed = {c.unit: (c.new, c.old_reason, c.reason) for c in s.decide()}
    assert placed == {
        "any.service": ("a", "every machine it may run on is drained", ""),
        "fast.service": ("a", "no machine matches MachineMetadata=cpus>4", ""),
    }
    # a reason read from the store is adopted: the same one is not written again
    fresh = Scheduler()
    fresh.machine_up(Machine("a"))
    fresh.unit_set(spec("pin.service", "MachineID=b"), "launched")
    fresh.placed("pin.service", None, "no machine has MachineID=b")
    assert fresh.decide() == []
    fresh.unit_removed("pin.service")
    assert fresh.decide() == [Change("pin.service", None, None, "no machine has MachineID=b", "")]
    # one left for a unit destroyed while no engine ran is removed
    fresh.placed("gone.service", None, "no machine is up")
    assert fresh.decide() == [Change("gone.service", None, None, "no machine is up", "")]
    fresh.unit_refused("bad.service", "bad")
    fresh.decide()
    fresh.placed("bad.service", None, "refused: bad")  # its own write, read back
    assert fresh.decide() == []
