"""Why a unit does not run is shown by `corralctl unit status` and `unit list`, and
records in the store that cannot be used (junk, huge, bad names, directories where a
record belongs) are skipped with one log line while the rest of the fleet goes on."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from fleet_harness import LOOP, Fleet

from corral.client import Client
from corral.fleet.election import Leadership
from corral.fleet.records import LEADER, MACHINES, SCHEDULE, UNITS, UnitRecord, encode
from corral.testing import wait_until

LONG = "x" * 300 + ".service"  # over systemd's 255 characters
# its units/ key is as long as corral-store takes (16 KiB); its schedule/ key is longer
LONGEST = "y" * (16384 - len(f"{UNITS}/") - len(".service")) + ".service"


def _write_junk(client: Client) -> None:
    """What a buggy or hostile writer could leave in the store."""
    client.set(f"{UNITS}/{LONG}", encode(UnitRecord(LONG, LOOP, "launched")))
    client.set(f"{UNITS}/{LONGEST}", encode(UnitRecord("y", LOOP, "launched")))
    huge = UnitRecord("huge.service", LOOP + "#" * 100_000, "launched")
    client.set(f"{UNITS}/huge.service", encode(huge))
    # a lone surrogate: valid JSON, no UTF-8 text
    client.set(
        f"{UNITS}/surrogate.service",
        '{"name": "s", "contents": "[Service]\\nExecStart=/bin/true\\n#\\ud800", '
        '"desired": "launched"}',
    )
    typed = {"name": "t", "contents": LOOP, "desired": "launched", "restart": {"m1": 5}}
    client.set(f"{UNITS}/typed.service", json.dumps(typed))
    client.set(f"{UNITS}/text.service", "[1, 2]")
    client.set(f"{UNITS}/dir.service/inner", "{}")  # a directory where a unit belongs
    client.set(f"{MACHINES}/junk", json.dumps({"id": "junk", "metadata": 5}))
    client.set(f"{MACHINES}/ghost/inner", json.dumps({"id": "ghost"}))  # a directory
    client.set(f"{MACHINES}/big", "[" * 50_000 + "]" * 50_000)  # deep nesting
    client.set(f"{SCHEDULE}/blocked.service/inner", "{}")  # the engine cannot write here


def test_reasons_are_shown_and_junk_in_the_store_is_skipped_once(fleet: Fleet) -> None:
    agent = fleet.add("m1")
    fleet.wait_machines("m1")
    # a unit the executor cannot load (a file where its directory goes), every tick
    (agent.state_dir / "units" / "stuck.service").write_text("in the way")
    fleet.ctl("unit", "start", "--no-block", fleet.unit_file("stuck.service", LOOP))
    shared = Path(tempfile.mkdtemp(prefix="corral-out-"))
    os.chmod(shared, 0o1777)
    try:
        # the brief's reproduction: User=nobody runs as nobody, not root
        who = fleet.unit_file(
            "who.service",
            f'[Service]\nType=oneshot\nUser=nobody\nExecStart=/bin/sh -c "id > {shared}/id"\n',
        )
        fleet.ctl("unit", "start", "--no-block", who)
        out = shared / "id"
        wait_until(lambda: out.exists() and out.read_text().endswith("\n"), 20, "who ran")
        assert out.read_text().startswith("uid=65534(nobody) gid=65534(nogroup)")
    finally:
        shutil.rmtree(shared)
    # a unit the process executor cannot honour: start says so and gives up
    boxed = fleet.unit_file(
        "boxed.service", "[Service]\nProtectSystem=strict\nExecStart=/bin/sleep 60\n"
    )
    done = fleet.ctl("unit", "start", boxed, check=False)
    assert done.returncode == 1
    assert "boxed.service on m1: refused: ProtectSystem= not supported" in done.stderr
    status = fleet.ctl("unit", "status", "--lines", "0", "boxed.service").stdout
    assert "Active: failed (failed)" in status
    assert "Reason: refused: ProtectSystem= not supported by the process executor" in status
    # a unit no machine can take: the engine says why
    pinned = fleet.unit_file("pinned.service", LOOP + "[X-Fleet]\nMachineID=nope\n")
    fleet.ctl("unit", "start", "--no-block", pinned)
    fleet.wait(lambda c: "pinned.service" in c.unplaced, 15, "pinned.service has a reason")
    status = fleet.ctl("unit", "status", "--lines", "0", "pinned.service").stdout
    assert "Placed: nowhere: no machine has MachineID=nope" in status
    _write_junk(fleet.client)
    blocked = fleet.unit_file("blocked.service", LOOP + "[X-Fleet]\nMachineID=nope\n")
    fleet.ctl("unit", "start", "--no-block", blocked)
    # the rest of the fleet goes on
    ok = fleet.unit_file("ok.service", LOOP)
    fleet.ctl("unit", "start", "--block-attempts", "60", ok)
    c = fleet.wait(lambda c: LONG in c.unplaced and "text.service" in c.unplaced, 15, "refused")
    assert c.unplaced[LONG].startswith("refused: invalid unit name 'xxxx")
    assert "308 characters, at most 255" in c.unplaced[LONG]
    assert "more than the limit of 65536" in c.unplaced["huge.service"]
    assert "the unit file is not UTF-8 text" in c.unplaced["surrogate.service"]
    assert "restart: expected dict[str, str]" in c.unplaced["typed.service"]
    assert c.unplaced["text.service"].startswith("refused: not a UnitRecord")
    rows = {
        line.split()[0]: line
        for line in fleet.ctl("unit", "list", "--no-legend").stdout.splitlines()
    }
    assert rows["boxed.service"].split()[1:4] == ["m1/127.0.0.1", "failed", "failed"], rows
    assert "refused: ProtectSystem=" in rows["boxed.service"]
    pinned_row = rows["pinned.service"].split(None, 4)[1:]
    assert pinned_row == ["-", "inactive", "dead", "no machine has MachineID=nope"]
    assert rows["ok.service"].split()[1:] == ["m1/127.0.0.1", "active", "running", "-"]
    assert set(fleet.cluster().machines) == {"m1"}  # junk machine records are no machines
    time.sleep(3)  # several agent ticks and engine renewals: nothing may repeat
    log = agent.log_text()
    assert "Traceback" not in log and "File name too long" not in log
    for key in (f"{UNITS}/huge.service", f"{MACHINES}/junk", f"{MACHINES}/ghost/inner"):
        assert log.count(f"ignoring {key}:") == 1, (key, log)
    assert log.count(f"cannot write {SCHEDULE}/blocked.service") == 1, log
    assert log.count(f"cannot write {SCHEDULE}/yyyyy") <= 1, log  # etcd takes the key
    assert log.count("agent: load stuck.service: [Errno 17] File exists") == 1, log


def test_a_leader_key_no_engine_wrote_does_not_block_elections(store) -> None:
    client = Client(store.url)
    for junk in ("plain", "directory"):
        if junk == "plain":
            client.set(LEADER, "someone")  # no TTL: no engine wrote it
        else:
            client.set(f"{LEADER}/inner", "x")
        first, second = (Leadership(client, mid, 5, lambda: Client(store.url))
                         for mid in ("m1", "m2"))  # fmt: skip
        assert not first.campaign()  # finds it, deletes it
        assert first.campaign() and not second.campaign()
        assert client.get(LEADER).node.value == "m1"
        assert client.get(LEADER).node.ttl is not None
        # a live leader's key (it has a TTL) is left alone
        assert not second.campaign() and first.campaign()
        first.resign()
