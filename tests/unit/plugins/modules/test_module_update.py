"""Modules update and update_info in-process against a real etcd holding
corral-updated's records, checked with `corralctl update status` as an operator would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ansible_collections.corral.cloud.plugins.modules import update, update_info

from corral.client import Client, EtcdError
from corral.updated import records as r


def _publish(endpoint: str, machine: str, status: str) -> None:
    record = r.MachineStatus(machine, status=status, version="1.0.0", new_version="1.1.0")
    with Client(endpoint) as client:
        client.set(f"{r.MACHINES}/{machine}", r.encode(record))


def _exists(endpoint: str, key: str) -> bool:
    with Client(endpoint) as client:
        try:
            client.get(key)
        except EtcdError:
            return False
    return True


def _corralctl_status(endpoint: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "--endpoint", endpoint, "update", "status"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout


def test_a_hold_is_set_once_and_corralctl_sees_it(endpoint, run_module):
    _publish(endpoint, "m1", r.IDLE)
    args = {"endpoint": endpoint, "machine": "m1", "held": True, "_ansible_diff": True}
    held = run_module(update.main, args)
    assert held["changed"] is True and held["levers"]["held"] is True
    assert '"held": false' in held["diff"]["before"] and '"held": true' in held["diff"]["after"]
    assert held["status"]["status"] == r.IDLE
    assert run_module(update.main, args)["changed"] is False
    assert [line.split()[5] for line in _corralctl_status(endpoint).splitlines()[1:2]] == ["yes"]

    released = run_module(update.main, {**args, "held": False})
    assert released["changed"] is True and not _exists(endpoint, f"{r.HOLDS}/m1")


def test_hold_everything_in_check_mode_then_for_real(endpoint, run_module):
    args = {"endpoint": endpoint, "machine": "all", "held": True}
    checked = run_module(update.main, {**args, "_ansible_check_mode": True})
    assert checked["changed"] is True and not _exists(endpoint, f"{r.HOLDS}/all")
    assert run_module(update.main, args)["changed"] is True
    assert _exists(endpoint, f"{r.HOLDS}/all")
    _publish(endpoint, "m1", r.IDLE)
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert info["held_all"] is True and info["machines"][0]["held"] is True


def test_a_check_request_is_left_once_for_the_daemon(endpoint, run_module):
    _publish(endpoint, "m1", r.IDLE)
    args = {"endpoint": endpoint, "machine": "m1", "check": True}
    assert run_module(update.main, args)["changed"] is True
    assert _exists(endpoint, f"{r.REQUESTS}/m1/check")
    assert run_module(update.main, args)["changed"] is False  # still pending
    info = run_module(update_info.main, {"endpoint": endpoint, "machine": "m1"})
    assert info["machines"][0]["check_requested"] is True
    assert info["machines"][0]["reboot_requested"] is False


def test_a_reboot_is_asked_only_of_a_staged_machine(endpoint, run_module):
    _publish(endpoint, "m1", r.IDLE)
    args = {"endpoint": endpoint, "machine": "m1", "reboot": True}
    refused = run_module(update.main, args)
    assert refused["failed"] is True
    assert "machine m1 has no update staged to reboot into" in refused["msg"]
    assert not _exists(endpoint, f"{r.REQUESTS}/m1/reboot")

    _publish(endpoint, "m1", r.NEED_REBOOT)
    asked = run_module(update.main, args)
    assert asked["changed"] is True and asked["levers"]["reboot_requested"] is True
    assert _exists(endpoint, f"{r.REQUESTS}/m1/reboot")


def test_a_held_machine_is_not_rebooted(endpoint, run_module):
    _publish(endpoint, "m1", r.NEED_REBOOT)
    result = run_module(update.main, {"endpoint": endpoint, "machine": "m1",
                                      "held": True, "reboot": True})  # fmt: skip
    assert result["failed"] is True and "is held" in result["msg"]
    assert not _exists(endpoint, f"{r.HOLDS}/m1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"machine": "nobody", "check": True}, "machine nobody has no corral-updated status"),
        ({"machine": "all", "check": True}, "give its id, not 'all'"),
        ({"machine": "a/b", "held": True}, "is not a machine id"),
    ],
)
def test_bad_requests_are_clear_failures(endpoint, run_module, args, message):
    result = run_module(update.main, {"endpoint": endpoint, **args})
    assert result["failed"] is True and message in result["msg"]


def test_update_info_reports_bad_releases_and_unreadable_records(endpoint, run_module):
    bad = r.BadRelease("rel-7", "1.1.0", "m1", "health check failed", "2026-01-01T00:00:00Z")
    failed = r.Verdict("rel-8", "1.2.0", "m3", r.FAILED, "gate failed")
    with Client(endpoint) as client:
        client.set(f"{r.BAD}/rel-7", r.encode(bad))  # the earlier layout's mark
        client.set(f"{r.REPORTS}/m3/rel-8", r.encode(failed))  # a machine's own report
        client.set(f"{r.REPORTS}/m1/rel-8", r.encode(r.Verdict("rel-8", "", "m1", r.PROVEN)))
        client.set(f"{r.MACHINES}/m2", "not json")
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert [(b["release_id"], b["machine"]) for b in info["bad_releases"]] == [
        ("rel-8", "m3"), ("rel-7", "m1")]
    assert info["machines"] == [
        {"machine": "m2", "status": "?", "error": "unreadable status record",
         "held": False, "check_requested": False, "reboot_requested": False}
    ]  # fmt: skip
    assert info["lock"] is None


def test_update_info_names_a_status_by_its_key_not_by_the_machine_it_claims(
    endpoint, run_module
):
    real = r.MachineStatus("m2", version="1.0.0")
    forged = r.MachineStatus("m2", status=r.NEED_REBOOT, version="6.6.6")  # written by m3
    with Client(endpoint) as client:
        client.set(f"{r.MACHINES}/m2", r.encode(real))
        client.set(f"{r.MACHINES}/m3", r.encode(forged))
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert [(m["machine"], m["status"], m.get("version")) for m in info["machines"]] == [
        ("m2", r.IDLE, "1.0.0"),
        ("m3", "?", None),
    ]
    tree = {"machines": {"m2": r.encode(real), "m3": r.encode(forged)}}
    assert update_info.summarize(tree, None)[1] == [
        "/_corral/update/machines/m3 claims to be machine 'm2'"  # warned by the module
    ]


def test_update_info_on_an_empty_store(endpoint, run_module):
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert info == {**info, "machines": [], "held_all": False, "bad_releases": [], "lock": None}


def _config(endpoint: str, name: str) -> dict | None:
    with Client(endpoint) as client:
        try:
            return json.loads(client.get(f"{r.CONFIG}/{name}").node.value or "")
        except EtcdError:
            return None


def _publish_flags(endpoint: str, machine: str) -> None:
    """A status as corral-updated publishes it: its flags and what it uses."""
    record = r.MachineStatus(machine, channel="stable", strategy="reboot", windows=[],
                             defaults={"channel": "stable", "strategy": "reboot",
                                       "windows": []})  # fmt: skip
    with Client(endpoint) as client:
        client.set(f"{r.MACHINES}/{machine}", r.encode(record))


def test_settings_are_written_once_with_a_diff_of_the_effective_settings(endpoint, run_module):
    _publish_flags(endpoint, "m1")
    with Client(endpoint) as client:
        client.set(f"{r.CONFIG}/all", '{"strategy": "lock"}')
    args = {"endpoint": endpoint, "machine": "m1", "channel": "beta",
            "windows": [" Mon-Fri 02:00  2h Europe/Berlin"], "_ansible_diff": True}  # fmt: skip

    checked = run_module(update.main, {**args, "_ansible_check_mode": True})
    assert checked["changed"] is True and _config(endpoint, "m1") is None
    before = json.loads(checked["diff"]["before"])
    after = json.loads(checked["diff"]["after"])
    assert before["effective"] == {"channel": "stable", "strategy": "lock", "windows": []}
    assert after["effective"] == {"channel": "beta", "strategy": "lock",
                                  "windows": ["Mon-Fri 02:00 2h Europe/Berlin"]}  # fmt: skip
    assert after["config"] == {"channel": "beta", "windows": ["Mon-Fri 02:00 2h Europe/Berlin"]}

    done = run_module(update.main, args)
    assert done["changed"] is True and done["levers"]["effective"]["channel"] == "beta"
    assert _config(endpoint, "m1") == after["config"]
    again = run_module(update.main, args)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    # an option left out keeps the field; another one is added beside it
    more = run_module(update.main, {"endpoint": endpoint, "machine": "m1", "strategy": "off"})
    assert more["changed"] is True
    assert _config(endpoint, "m1") == {**after["config"], "strategy": "off"}
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert info["config"] == {"all": {"strategy": "lock"}, "m1": _config(endpoint, "m1")}
    assert info["machines"][0]["channel"] == "stable"  # until the daemon applies it


def test_the_cluster_default_and_a_record_that_does_not_parse(endpoint, run_module):
    args = {"endpoint": endpoint, "machine": "all", "strategy": "external", "windows": []}
    result = run_module(update.main, args)
    assert result["changed"] is True and _config(endpoint, "all") == {"strategy": "external",
                                                                      "windows": []}  # fmt: skip
    assert result["levers"]["effective"] == {"channel": None, "strategy": "external",
                                             "windows": []}  # fmt: skip
    with Client(endpoint) as client:
        client.set(f"{r.CONFIG}/m2", "{oops")
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert "not JSON" in info["config"]["m2"]["error"]
    # a module run without settings options leaves the unreadable record alone
    held = run_module(update.main, {"endpoint": endpoint, "machine": "m2", "held": True})
    assert "not JSON" in held["levers"]["config_error"]
    assert run_module(update.main, {"endpoint": endpoint, "machine": "m2",
                                    "channel": "beta"})["changed"] is True  # fmt: skip
    assert _config(endpoint, "m2") == {"channel": "beta"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"windows": ["Mon-Fri 02:00"]}, "window 'Mon-Fri 02:00': expected DAYS START LENGTH"),
        ({"windows": ["Mon 02:00 1h Mars/Olympus"]}, "unknown time zone 'Mars/Olympus'"),
        ({"channel": "Beta"}, "channel 'Beta': use lower-case letters"),
        ({"strategy": "sometimes"}, "value of strategy must be one of"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(endpoint, run_module, args,
                                                             message):  # fmt: skip
    result = run_module(update.main, {"endpoint": endpoint, "machine": "m1", **args})
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert _config(endpoint, "m1") is None


def test_a_reboot_wait_that_times_out_fails_after_the_request(endpoint, run_module):
    _publish(endpoint, "m1", r.NEED_REBOOT)
    args = {"endpoint": endpoint, "machine": "m1", "reboot": True, "wait": True,
            "wait_timeout": 1}  # fmt: skip
    result = run_module(update.main, args)
    assert result["failed"] is True and result["changed"] is True
    assert "machine m1 was not back on 1.1.0 within 1s" in result["msg"]
    assert "UPDATE_STATUS_UPDATED_NEED_REBOOT on 1.0.0" in result["msg"]
    assert _exists(endpoint, f"{r.REQUESTS}/m1/reboot")
