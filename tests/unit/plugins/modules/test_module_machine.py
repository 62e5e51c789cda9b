"""corral.cloud.machine against a real store holding fleet's records: drain and undrain
keep the rest of the record and its TTL, check mode and diff agree with the write, and
a drain with wait returns only once nothing is placed on or running on the machine."""

from __future__ import annotations

import json
import threading
import time

from ansible_collections.corral.cloud.plugins.modules import machine

from corral.client import Client

RECORD = {"id": "m1", "hostname": "h1", "ip": "10.0.0.1", "metadata": {"region": "eu"},
          "drained": False, "version": "1.0", "journal": "", "future_field": 7}  # fmt: skip
RUNNING = {"load": "loaded", "active": "active", "sub": "running"}


def _seed(endpoint: str, record: dict | None = None) -> Client:
    client = Client(endpoint)
    client.set("/_corral/machines/m1", json.dumps(record or RECORD), ttl=60)
    return client


def _record(client: Client) -> dict:
    return json.loads(client.get("/_corral/machines/m1").node.value)


def test_drain_writes_drained_keeps_the_record_and_its_ttl_and_is_idempotent(endpoint, run_module):
    client = _seed(endpoint)
    args = {"endpoint": endpoint, "machine": "m1", "state": "drained"}
    first = run_module(machine.main, args)
    assert (first["changed"], first["prev_drained"]) == (True, False)
    assert first["machine"]["drained"] is True
    assert _record(client) == {**RECORD, "drained": True}
    assert 0 < client.get("/_corral/machines/m1").node.ttl <= 60  # the agent still owns its expiry
    again = run_module(machine.main, args)
    assert (again["changed"], again["prev_drained"]) == (False, True)
    back = run_module(machine.main, {**args, "state": "undrained"})
    assert back["changed"] is True and _record(client) == RECORD


def test_check_mode_and_diff_show_the_write_without_making_it(endpoint, run_module):
    client = _seed(endpoint)
    args = {"endpoint": endpoint, "machine": "m1", "state": "drained",
            "_ansible_check_mode": True, "_ansible_diff": True}  # fmt: skip
    result = run_module(machine.main, args)
    assert result["changed"] is True and _record(client) == RECORD
    assert json.loads(result["diff"]["before"]) == RECORD
    assert json.loads(result["diff"]["after"]) == {**RECORD, "drained": True}
    real = run_module(machine.main, {**args, "_ansible_check_mode": False})
    assert json.loads(real["diff"]["after"]) == _record(client)


def test_an_absent_or_forged_machine_is_refused_unchanged(endpoint, run_module):
    result = run_module(machine.main, {"endpoint": endpoint, "machine": "m1", "state": "drained"})
    assert result["failed"] is True and result["changed"] is False
    assert "no live machine m1" in result["msg"]
    client = _seed(endpoint, {**RECORD, "id": "m2"})
    forged = run_module(machine.main, {"endpoint": endpoint, "machine": "m1", "state": "drained"})
    assert forged["failed"] is True and "claims to be machine 'm2'" in forged["msg"]
    assert _record(client)["drained"] is False
    bad = run_module(machine.main, {"endpoint": endpoint, "machine": "../x", "state": "drained"})
    assert bad["failed"] is True and "no machine id" in bad["msg"]


def test_wait_fails_naming_the_units_still_on_the_machine(endpoint, run_module):
    client = _seed(endpoint)
    client.set("/_corral/schedule/app.service", json.dumps({"machine": "m1"}))
    client.set("/_corral/states/m1/old.service", json.dumps(RUNNING))
    client.set("/_corral/states/m1/done.service", json.dumps({**RUNNING, "active": "failed"}))
    args = {"endpoint": endpoint, "machine": "m1", "state": "drained", "wait": True,
            "wait_timeout": 1}  # fmt: skip
    result = run_module(machine.main, args)
    assert result["failed"] is True and result["changed"] is True  # drained all the same
    assert "did not finish draining within 1s" in result["msg"]
    assert "app.service, old.service" in result["msg"] and "done.service" not in result["msg"]
    check = run_module(machine.main, {**args, "_ansible_check_mode": True})
    assert check["units"] == ["app.service", "old.service"]


def test_wait_returns_once_the_machine_runs_none_of_its_units(endpoint, run_module):
    client = _seed(endpoint)
    client.set("/_corral/schedule/app.service", json.dumps({"machine": "m1"}))
    client.set("/_corral/states/m1/app.service", json.dumps(RUNNING))

    def engine_moves_the_unit() -> None:  # what corral-fleet does for a drained machine
        time.sleep(1)
        client.set("/_corral/schedule/app.service", json.dumps({"machine": "m2"}))
        time.sleep(0.5)
        client.delete("/_corral/states/m1/app.service")

    mover = threading.Thread(target=engine_moves_the_unit)
    mover.start()
    started = time.monotonic()
    result = run_module(machine.main, {"endpoint": endpoint, "machine": "m1", "state": "drained",
                                       "wait": True, "wait_timeout": 30})  # fmt: skip
    mover.join()
    assert result.get("failed", False) is False and result["units"] == []
    assert 1.5 <= time.monotonic() - started < 30


def test_metadata_is_set_and_removed_keeping_the_rest_and_the_drain(endpoint, run_module):
    client = _seed(endpoint, {**RECORD, "metadata": {"region": "eu", "canary": "yes"}})
    args = {"endpoint": endpoint, "machine": "m1",
            "metadata": {"region": "us", "canary": None, "disk": "ssd", "rack": 3}}  # fmt: skip
    check = run_module(machine.main, {**args, "_ansible_check_mode": True, "_ansible_diff": True})
    assert check["changed"] is True and _record(client)["metadata"]["region"] == "eu"
    first = run_module(machine.main, args)
    wanted = {"region": "us", "disk": "ssd", "rack": "3"}
    assert first["changed"] is True and first["machine"]["metadata"] == wanted
    assert _record(client) == {**RECORD, "metadata": wanted}
    assert json.loads(check["diff"]["after"]) == _record(client)
    assert run_module(machine.main, args)["changed"] is False
    assert _record(client)["drained"] is False  # no state: the drain is left as it is


def test_metadata_fleet_would_refuse_writes_nothing(endpoint, run_module):
    client = _seed(endpoint)
    for bad in ({"zone": "a,b"}, {"bad key": "x"}, {"flag": True}):
        result = run_module(machine.main, {"endpoint": endpoint, "machine": "m1",
                                           "metadata": bad})  # fmt: skip
        assert result["failed"] is True and "nothing was written" in result["msg"], bad
    assert _record(client) == RECORD
    neither = run_module(machine.main, {"endpoint": endpoint, "machine": "m1"})
    assert neither["failed"] is True and "state, metadata" in neither["msg"]
