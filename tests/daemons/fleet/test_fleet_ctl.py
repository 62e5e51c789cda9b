"""corralctl unit and machine: fleetctl's options, output, and clear errors."""

from __future__ import annotations

import subprocess
import sys

from fleet_harness import LOOP, Fleet, running_copies


def test_submit_replace_cat_status_destroy_and_errors(fleet: Fleet) -> None:
    fleet.add("m1", "disk=ssd")
    fleet.wait_machines("m1")
    path = fleet.unit_file("app.service", "[Unit]\nDescription=the app\n" + LOOP)
    fleet.ctl("unit", "submit", path)
    assert fleet.ctl("unit", "cat", "app.service").stdout == "[Unit]\nDescription=the app\n" + LOOP
    fleet.ctl("unit", "start", "--block-attempts", "60", "app.service")
    old_main = fleet.cluster().states["app.service"]["m1"].main_pid
    # the same name with other contents is refused without --replace ...
    changed = fleet.unit_file("app.service", "[Unit]\nDescription=v2\n" + LOOP)
    refused = fleet.ctl("unit", "submit", changed, check=False)
    assert refused.returncode == 1
    assert "already exists with different contents; use --replace" in refused.stderr
    # ... and with it, the agent reloads and restarts the unit with the new contents
    fleet.ctl("unit", "start", "--replace", "--block-attempts", "60", changed)
    fleet.wait(
        lambda c: (
            c.states["app.service"]["m1"].main_pid not in (0, old_main)
            and c.states["app.service"]["m1"].active == "active"
        ),
        15,
        "restarted with v2",
    )
    status = fleet.ctl("unit", "status", "--lines", "1", "app.service").stdout
    assert "● app.service - v2" in status and "Active: active (running)" in status
    assert "Hello World" in status
    wide = fleet.ctl("unit", "list", "--full", "--fields", "unit,hash,failures").stdout
    header, row = wide.splitlines()
    assert header.split() == ["UNIT", "HASH", "FAILURES"] and len(row.split()[1]) == 40
    fleet.ctl("unit", "destroy", "app.service")
    fleet.wait(lambda c: "app.service" not in c.states, 15, "app gone")
    assert running_copies(fleet, "app.service") == []
    # bad input: clear messages, exit 1, never a traceback
    bad = fleet.unit_file(
        "bad.service",
        "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineOf=x.service\n",
    )
    cases = [
        (("unit", "submit", bad), "Global=true cannot be combined with MachineOf"),
        (("unit", "start", "ghost.service"), "unit ghost.service not found"),
        (("unit", "start", "/no/such/file.service"), "cannot read /no/such/file.service"),
        (("unit", "list", "--fields", "unit,colour"), "invalid field(s) colour"),
        (("unit", "cat", "ghost.service"), "unit ghost.service does not exist"),
        (("unit", "destroy", "ghost.service"), "unit ghost.service does not exist"),
        (("machine", "set-metadata", "m1", "oops"), "expected KEY=VALUE"),
    ]
    fleet.client.set("/_corral/units/junk.service", "not json")
    cases.append((("unit", "stop", "junk.service"), "not a UnitRecord"))
    for args, message in cases:
        done = fleet.ctl(*args, check=False)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_templates_start_instances_and_journal_follows(fleet: Fleet) -> None:
    fleet.add("m1")
    fleet.wait_machines("m1")
    tpl = fleet.unit_file(
        "echo@.service",
        "[Service]\nExecStart=/bin/sh -c 'while true; do echo I am %i; sleep 0.1; done'\n",
    )
    fleet.ctl("unit", "submit", tpl)
    refused = fleet.ctl("unit", "start", "echo@.service", check=False)
    assert refused.returncode == 1 and "is a template: start an instance" in refused.stderr
    fleet.ctl("unit", "start", "--block-attempts", "60", "echo@a.service", "echo@b.service")
    with subprocess.Popen(
        [sys.executable, "-m", "corral.ctl.main", "--endpoint", fleet.endpoint,
         "unit", "journal", "-f", "--lines", "0", "echo@b.service"],
        stdout=subprocess.PIPE, text=True,
    ) as follow:  # fmt: skip
        assert follow.stdout is not None
        try:
            lines = [follow.stdout.readline().strip() for _ in range(3)]
        finally:
            follow.kill()
    assert lines == ["I am b"] * 3
    listing = fleet.ctl("unit", "list", "--no-legend", "--fields", "unit,active").stdout
    assert [line.split() for line in listing.splitlines()] == [
        ["echo@a.service", "active"],
        ["echo@b.service", "active"],
    ]
    fleet.ctl("unit", "unload", "--block-attempts", "60", "echo@a.service")
    assert running_copies(fleet, "echo@a.service") == []
    files = fleet.ctl("unit", "files", "--no-legend", "--fields", "unit,dstate,state").stdout
    assert ["echo@a.service", "inactive", "inactive"] in [r.split() for r in files.splitlines()]


def test_rolling_restart_of_a_global_unit(fleet: Fleet) -> None:
    for mid in ("m1", "m2", "m3"):
        fleet.add(mid)
    fleet.wait_machines("m1", "m2", "m3")
    g = fleet.unit_file("g.service", f"{LOOP}[X-Fleet]\nGlobal=true\n")
    fleet.ctl("unit", "start", g)
    c = fleet.wait(
        lambda c: (
            len(c.states.get("g.service", {})) == 3
            and all(s.active == "active" for s in c.states["g.service"].values())
        ),
        20,
        "g everywhere",
    )
    before = {m: s.main_pid for m, s in c.states["g.service"].items()}
    done = fleet.ctl("unit", "restart", "--rolling", "--block-attempts", "60", "g.service")
    after = fleet.cluster().states["g.service"]
    assert all(after[m].main_pid not in (0, before[m]) for m in before)
    assert all(s.active == "active" for s in after.values())
    # one machine at a time, in order
    assert done.stdout.splitlines() == [
        f"Unit g.service on {m} restarted" for m in ("m1", "m2", "m3")
    ]
