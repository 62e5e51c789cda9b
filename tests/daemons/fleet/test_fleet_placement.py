"""Placement by real agents (process executor) on a real store, driven by corralctl."""

from __future__ import annotations

from fleet_harness import LOOP, Fleet, running_copies

from corral.fleet.cluster import Cluster

METADATA = {
    "m1": "region=eu,disk=ssd,ram=4096",
    "m2": "region=eu,disk=hdd,ram=1024",
    "m3": "region=us,disk=ssd,ram=8192",
}


def _three(fleet: Fleet) -> None:
    for mid, meta in METADATA.items():
        fleet.add(mid, meta)
    fleet.wait_machines(*METADATA)


def test_every_constraint_places_units_where_they_belong(fleet: Fleet) -> None:
    _three(fleet)
    units = {
        "pin.service": "MachineID=m3",
        "eu-ssd.service": "MachineMetadata=region=eu disk=ssd",
        "small-not-hdd.service": "MachineMetadata=disk!=hdd ram<=4096",
        "big.service": "MachineMetadata=ram>=8000",
        "us-or-ap.service": "MachineMetadata=region=us\nMachineMetadata=region=ap",
        "head.service": "MachineMetadata=region=eu",
        "mid.service": "MachineOf=head.service",
        "tail.service": "MachineOf=mid.service",
    }
    files = [fleet.unit_file(n, f"{LOOP}[X-Fleet]\n{x}\n") for n, x in units.items()]
    fleet.unit_file("web@.service", f"{LOOP}[X-Fleet]\nConflicts=web@*.service\n")
    fleet.unit_file("g.service", f"{LOOP}[X-Fleet]\nGlobal=true\nMachineMetadata=disk=ssd\n")
    fleet.ctl("unit", "submit", str(fleet.base / "files" / "web@.service"))
    fleet.ctl("unit", "start", "--block-attempts", "60", *files)
    fleet.ctl("unit", "start", "--block-attempts", "60", *(f"web@{i}.service" for i in (1, 2, 3)))
    fleet.ctl("unit", "start", str(fleet.base / "files" / "g.service"))
    c = fleet.wait(
        lambda c: (
            set(c.states.get("g.service", {})) == {"m1", "m3"}
            and all(s.active == "active" for s in c.states["g.service"].values())
        ),
        20,
        "global unit on m1 and m3",
    )
    s = c.schedule
    assert s["pin.service"] == "m3"
    assert s["eu-ssd.service"] == "m1"
    assert s["small-not-hdd.service"] == "m1"
    assert s["big.service"] == "m3"
    assert s["us-or-ap.service"] == "m3"
    assert s["head.service"] in ("m1", "m2")
    assert s["mid.service"] == s["tail.service"] == s["head.service"]
    assert sorted(s[f"web@{i}.service"] for i in (1, 2, 3)) == ["m1", "m2", "m3"]
    assert "g.service" not in s
    # every unit runs exactly where it is scheduled, as processes on that host
    for unit, machine in s.items():
        assert running_copies(fleet, unit) == [machine], unit
    assert sorted(running_copies(fleet, "g.service")) == ["m1", "m3"]
    # a fourth instance conflicts everywhere: it waits, and corralctl says so
    blocked = fleet.ctl("unit", "start", "--block-attempts", "4", "web@4.service", check=False)
    assert blocked.returncode == 1 and "web@4.service did not start" in blocked.stderr
    files_out = fleet.ctl("unit", "files", "--no-legend", "--fields", "unit,dstate,state,target")
    rows = {line.split()[0]: line.split()[1:] for line in files_out.stdout.splitlines()}
    assert rows["web@4.service"] == ["launched", "inactive", "-"]
    assert rows["g.service"] == ["launched", "launched", "global"]
    assert rows["web@.service"] == ["inactive", "-", "-"]
    assert rows["pin.service"] == ["launched", "launched", "m3/127.0.0.1"]


def test_replaces_evicts_and_metadata_changes_move_globals(fleet: Fleet) -> None:
    fleet.add("m1", "role=db")
    fleet.add("m2", "role=web")
    fleet.wait_machines("m1", "m2")
    old = fleet.unit_file("old.service", f"{LOOP}[X-Fleet]\nMachineID=\n")
    fleet.ctl("unit", "start", "--block-attempts", "60", old)
    first = fleet.wait_active("old.service")
    role = "db" if first == "m1" else "web"
    new = fleet.unit_file(
        "new.service", f"{LOOP}[X-Fleet]\nReplaces=old.service\nMachineMetadata=role={role}\n"
    )
    fleet.ctl("unit", "start", "--block-attempts", "60", new)
    c = fleet.wait(
        lambda c: (
            c.schedule.get("old.service") not in (None, first)
            and c.states.get("old.service", {}).get(c.schedule["old.service"]) is not None
            and c.states["old.service"][c.schedule["old.service"]].active == "active"
        ),
        20,
        "old.service evicted",
    )
    assert c.schedule["new.service"] == first
    assert running_copies(fleet, "old.service") == [c.schedule["old.service"]]
    assert running_copies(fleet, "new.service") == [first]
    # a global unit follows metadata changed at runtime
    g = fleet.unit_file("g.service", f"{LOOP}[X-Fleet]\nGlobal=true\nMachineMetadata=tier=1\n")
    fleet.ctl("unit", "start", g)
    fleet.ctl("machine", "set-metadata", "m2", "tier=1")
    fleet.wait(lambda c: _active_on(c, "g.service") == {"m2"}, 20, "g on m2")
    fleet.ctl("machine", "set-metadata", "m2", "tier=")
    fleet.ctl("machine", "set-metadata", "m1", "tier=1")
    fleet.wait(lambda c: _active_on(c, "g.service") == {"m1"}, 20, "g moved to m1")
    listing = fleet.ctl("machine", "list", "--no-legend", "--fields", "machine,metadata").stdout
    assert listing.split() == ["m1", "role=db,tier=1", "m2", "role=web"]


def _active_on(c: Cluster, unit: str) -> set[str]:
    return {m for m, s in c.states.get(unit, {}).items() if s.active == "active"}
