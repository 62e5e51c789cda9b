"""Machines dying, engines changing, agents restarting: units keep exactly one home."""

from __future__ import annotations

import time

from fleet_harness import LOOP, Fleet, running_copies

from corral.client import EtcdError
from corral.fleet.records import LEADER
from corral.updated.records import DRAIN as UPDATE_DRAIN


def test_article_scenario_unit_moves_when_its_host_dies(fleet: Fleet) -> None:
    for mid in ("m1", "m2", "m3"):
        fleet.add(mid)
    fleet.wait_machines("m1", "m2", "m3")
    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("m.service", LOOP))
    first = fleet.wait_active("m.service")
    assert running_copies(fleet, "m.service") == [first]
    killed = time.monotonic()
    fleet.agents[first].die()
    second = fleet.wait(
        lambda c: (
            c.schedule.get("m.service") not in (None, first)
            and c.states.get("m.service", {}).get(c.schedule["m.service"]) is not None
            and c.states["m.service"][c.schedule["m.service"]].active == "active"
        ),
        15,
        "m.service active on another machine",
    ).schedule["m.service"]
    took = time.monotonic() - killed
    print(f"failover took {took:.2f}s with a 2s agent TTL")
    assert running_copies(fleet, "m.service") == [second]
    files = fleet.ctl("unit", "files", "--no-legend").stdout.split()
    assert files[0] == "m.service" and files[2:] == ["launched", "launched", f"{second}/127.0.0.1"]
    listing = fleet.ctl("unit", "list", "--no-legend").stdout.split()
    assert listing == ["m.service", f"{second}/127.0.0.1", "active", "running", "-"]
    journal = fleet.ctl("unit", "journal", "--lines", "2", "m.service").stdout.splitlines()
    assert journal == ["Hello World", "Hello World"]
    machines = fleet.ctl("machine", "list", "--no-legend", "--fields", "machine").stdout.split()
    assert first not in machines and len(machines) == 2


def test_engine_takeover_places_nothing_twice(fleet: Fleet) -> None:
    for mid in ("m1", "m2", "m3"):
        fleet.add(mid)
    fleet.wait_machines("m1", "m2", "m3")
    fleet.wait(lambda c: _leader(fleet) is not None, 10, "an engine")
    leader = _leader(fleet)
    assert leader is not None
    before = [fleet.unit_file(f"a{i}.service", LOOP) for i in range(6)]
    fleet.ctl("unit", "start", "--block-attempts", "60", *before)
    fleet.agents[leader].die()
    fleet.wait(lambda c: _leader(fleet) not in (None, leader), 15, "a new engine")
    after = [fleet.unit_file(f"b{i}.service", LOOP) for i in range(6)]
    fleet.ctl("unit", "start", "--block-attempts", "60", *after)
    names = [f"a{i}.service" for i in range(6)] + [f"b{i}.service" for i in range(6)]
    c = fleet.wait(
        lambda c: all(
            c.schedule.get(n) not in (None, leader)
            and c.states.get(n, {}).get(c.schedule[n]) is not None
            and c.states[n][c.schedule[n]].active == "active"
            for n in names
        ),
        20,
        "every unit active on a live machine",
    )
    for n in names:
        assert running_copies(fleet, n) == [c.schedule[n]], n
    # each survivor started each unit at most once: no double placement, no flapping
    for mid, agent in fleet.agents.items():
        if mid == leader:
            continue
        log = agent.log_text()
        for n in names:
            assert log.count(f"agent: start {n}") <= 1, (mid, n)


def _leader(fleet: Fleet) -> str | None:
    try:
        return fleet.client.get(LEADER).node.value
    except EtcdError:
        return None


def test_restarted_agent_adopts_its_running_units(fleet: Fleet) -> None:
    agent = fleet.add("m1", ttl=5)
    fleet.wait_machines("m1")
    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("keep.service", LOOP))
    fleet.wait_active("keep.service")
    _, main = agent.unit_pids("keep.service")
    agent.stop()
    assert running_copies(fleet, "keep.service") == ["m1"]  # units outlive their agent
    mark = len(agent.log_text())
    agent.spawn()
    fleet.wait(
        lambda c: "agent: machine m1 registered" in agent.log_text()[mark:], 10, "agent back"
    )
    fleet.ctl("unit", "start", "--block-attempts", "20", "keep.service")
    assert agent.unit_pids("keep.service")[1] == main
    assert "agent: start keep.service" not in agent.log_text()[mark:]
    assert fleet.cluster().states["keep.service"]["m1"].main_pid == main


def test_failing_unit_moves_and_a_stopped_unit_stays_stopped(fleet: Fleet) -> None:
    for mid in ("m1", "m2"):
        fleet.add(mid, extra=("--max-failures", "2"))
    fleet.wait_machines("m1", "m2")
    bad = fleet.unit_file(
        "bad.service", "[Service]\nRestart=on-failure\nRestartSec=200ms\nExecStart=/bin/false\n"
    )
    fleet.ctl("unit", "start", "--no-block", bad)
    first = fleet.wait(lambda c: "bad.service" in c.schedule, 10, "bad placed").schedule[
        "bad.service"
    ]
    other = "m2" if first == "m1" else "m1"
    fleet.wait(lambda c: c.schedule.get("bad.service") == other, 20, "bad moved")
    # the unit now fails on its only other machine too: it stays there, not ping-pong
    fleet.wait(
        lambda c: (
            c.states.get("bad.service", {}).get(other) is not None
            and c.states["bad.service"][other].failures >= 3
        ),
        20,
        "more failures on the second machine",
    )
    assert fleet.cluster().schedule["bad.service"] == other
    # stopped by its user: stays stopped, and stays where it was
    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("s.service", LOOP))
    where = fleet.wait_active("s.service")
    fleet.ctl("unit", "stop", "--block-attempts", "60", "s.service")
    assert running_copies(fleet, "s.service") == []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # a window in which nothing may restart it
        c = fleet.cluster()
        assert c.states["s.service"][where].active == "inactive"
        assert c.schedule["s.service"] == where
        time.sleep(0.2)
    rows = fleet.ctl("unit", "files", "--no-legend", "--fields", "unit,dstate,state").stdout
    assert ["s.service", "loaded", "loaded"] in [line.split() for line in rows.splitlines()]


def test_drain_moves_units_and_undrain_takes_them_again(fleet: Fleet) -> None:
    for mid in ("m1", "m2"):
        fleet.add(mid)
    fleet.wait_machines("m1", "m2")
    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("d.service", LOOP))
    first = fleet.wait_active("d.service")
    other = "m2" if first == "m1" else "m1"
    fleet.ctl("machine", "drain", first)
    fleet.wait(lambda c: c.schedule.get("d.service") == other, 15, "moved off the drained one")
    fleet.wait_active("d.service")
    fleet.wait(lambda c: running_copies(fleet, "d.service") == [other], 10, "one copy")
    listed = fleet.ctl("machine", "list", "--no-legend", "--fields", "machine,drained").stdout
    assert [line.split() for line in listed.splitlines()] == sorted(
        [[first, "true"], [other, "false"]]
    )
    fleet.ctl("machine", "undrain", first)
    fleet.ctl("machine", "drain", other)
    fleet.wait(lambda c: c.schedule.get("d.service") == first, 15, "back after undrain")
    missing = fleet.ctl("machine", "drain", "nope", check=False)
    assert missing.returncode != 0 and "no live machine 'nope'" in missing.stderr


def test_corral_updateds_drain_request_is_applied_by_the_agent(fleet: Fleet) -> None:
    """corral-updated may not write the agent's record: it asks with `drain/<id>`, and
    the agent of that machine drains it, apart from (and keeping) an operator's drain."""
    for mid in ("m1", "m2"):
        fleet.add(mid)
    fleet.wait_machines("m1", "m2")
    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("u.service", LOOP))
    first = fleet.wait_active("u.service")
    other = "m2" if first == "m1" else "m1"
    fleet.client.set(f"{UPDATE_DRAIN}/{first}", "reboot")
    fleet.wait(lambda cl: cl.schedule.get("u.service") == other, 15, "moved off")
    assert fleet.cluster().machines[first].update_drain
    assert not fleet.cluster().machines[first].drained  # the operator's flag untouched
    fleet.ctl("machine", "drain", other)  # an operator's drain while it lasts
    fleet.client.delete(f"{UPDATE_DRAIN}/{first}")
    fleet.wait(lambda cl: cl.schedule.get("u.service") == first, 15, "back after the reboot")
    assert fleet.cluster().machines[other].drained  # the operator's drain stays


def test_a_unit_slow_to_stop_does_not_hold_up_the_others(fleet: Fleet) -> None:
    fleet.add("m1")
    fleet.wait_machines("m1")
    slow = fleet.unit_file(
        "slow.service",
        "[Service]\nTimeoutStopSec=60s\n"
        "ExecStart=/bin/sh -c 'trap \"\" TERM; while true; do sleep 0.1; done'\n",
    )
    fleet.ctl("unit", "start", "--block-attempts", "60", slow)
    fleet.ctl("unit", "unload", "--no-block", "slow.service")
    fleet.wait(
        lambda c: (
            c.states.get("slow.service", {}).get("m1") is not None
            and c.states["slow.service"]["m1"].sub == "stop-sigterm"
        ),
        10,
        "slow.service stopping",
    )
    # while it ignores SIGTERM for up to a minute, the agent keeps converging
    fleet.ctl("unit", "start", "--block-attempts", "40", fleet.unit_file("quick.service", LOOP))
    assert fleet.cluster().states["slow.service"]["m1"].active == "deactivating"
