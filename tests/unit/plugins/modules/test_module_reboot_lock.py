"""Module reboot_lock in-process against a real etcd, sharing the semaphore with
corral-updated's own RebootLock (what the daemons and corralctl lock use)."""

from __future__ import annotations

import pytest
from ansible_collections.corral.cloud.plugins.modules import reboot_lock, update_info

from corral.client import Client, EtcdError
from corral.testing import wait_until
from corral.updated.reboot_lock import RebootLock
from corral.updated.records import ALIVE, LOCK, LOCK_MAX


def _holders(endpoint: str) -> list[str]:
    """Who has a key in the cluster's lock (holding or not)."""
    with Client(endpoint) as client:
        return [h.holder for h in RebootLock(client).holders()]


def test_take_and_give_back_a_place_once(endpoint, run_module):
    args = {"endpoint": endpoint, "holder": "ops", "state": "locked", "_ansible_diff": True}
    first = run_module(reboot_lock.main, args)
    assert first["changed"] is True
    assert first["lock"] == {"semaphore": 0, "max": 1, "holders": ["ops"]}
    assert first["prev_lock"] == {"semaphore": 1, "max": 1, "holders": []}
    assert '"ops"' in first["diff"]["after"] and '"ops"' not in first["diff"]["before"]
    assert _holders(endpoint) == ["ops"]
    info = run_module(update_info.main, {"endpoint": endpoint})  # reads the same keys
    assert info["lock"] == {"semaphore": 0, "max": 1, "holders": ["ops"]}
    assert run_module(reboot_lock.main, args)["changed"] is False

    # a daemon finds the lock full while the hand-taken place is alive
    with Client(endpoint) as client:
        assert RebootLock(client).acquire("machine-a") is False

    released = run_module(reboot_lock.main, {**args, "state": "unlocked"})
    assert released["changed"] is True and released["lock"]["holders"] == []
    assert run_module(reboot_lock.main, {**args, "state": "unlocked"})["changed"] is False
    with Client(endpoint) as client:
        assert RebootLock(client).acquire("machine-a") is True


def test_a_full_lock_fails_naming_its_holders_and_check_mode_predicts_it(endpoint, run_module):
    with Client(endpoint) as client:
        client.set(f"{ALIVE}/machine-a", "alive", ttl=60)
        assert RebootLock(client).acquire("machine-a")
    args = {"endpoint": endpoint, "holder": "ops", "state": "locked"}
    for check in (True, False):
        failed = run_module(reboot_lock.main, {**args, "_ansible_check_mode": check})
        assert failed["failed"] is True
        assert "reboot lock lock is full (max 1, held by machine-a)" in failed["msg"]
    assert _holders(endpoint) == ["machine-a"]


def test_a_holder_whose_heartbeat_expired_is_dropped(endpoint, run_module):
    with Client(endpoint) as client:
        client.set(f"{ALIVE}/machine-a", "alive", ttl=1)
        assert RebootLock(client).acquire("machine-a")
        wait_until(lambda: not _alive(client, "machine-a"), 10, "heartbeat expired")
    taken = run_module(reboot_lock.main, {"endpoint": endpoint, "holder": "ops", "state": "locked"})
    assert taken["changed"] is True and taken["lock"]["holders"] == ["ops"]


def _alive(client: Client, holder: str) -> bool:
    try:
        client.get(f"{ALIVE}/{holder}")
    except EtcdError:
        return False
    return True


def test_set_max_in_check_mode_then_for_real_in_a_group(endpoint, run_module):
    args = {"endpoint": endpoint, "group": "db", "max": 3}
    checked = run_module(reboot_lock.main, {**args, "_ansible_check_mode": True})
    assert checked["changed"] is True and checked["lock"]["max"] == 3
    assert checked["key"] == f"{LOCK_MAX}/lock-groups/db"
    with Client(endpoint) as client, pytest.raises(EtcdError, match="Key not found"):
        client.get(f"{LOCK_MAX}/lock-groups/db")
    done = run_module(reboot_lock.main, args)
    assert done["lock"] == {"semaphore": 3, "max": 3, "holders": []}
    with Client(endpoint) as client:
        assert client.get(f"{LOCK_MAX}/lock-groups/db").node.value == "3"
    assert run_module(reboot_lock.main, args)["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"max": -1}, "max must be 0 or more"),
        ({"state": "locked", "holder": "x", "ttl": 0}, "ttl must be at least 1 second"),
        ({"state": "locked", "holder": "x", "ttl": "soon"}, "ttl: bad duration 'soon'"),
        ({"state": "locked", "holder": "x", "ttl": [1]}, "ttl: [1] is not a number of seconds"),
        ({"state": "locked", "holder": "x", "timeout": "soon"}, "timeout: bad duration 'soon'"),
        ({"state": "locked", "holder": "x", "group": "a/b"}, "without '/'"),
        ({"holder": "x"}, "one of the following is required: state, max"),
    ],
)
def test_bad_input_is_a_clear_failure(endpoint, run_module, args, message):
    result = run_module(reboot_lock.main, {"endpoint": endpoint, **args})
    assert result["failed"] is True and message in result["msg"]


def test_a_corrupt_semaphore_is_reported_not_replaced(endpoint, run_module):
    with Client(endpoint) as client:
        client.set(LOCK, "garbage")
    result = run_module(reboot_lock.main, {"endpoint": endpoint, "max": 2})
    assert result["failed"] is True and "not a reboot semaphore" in result["msg"]
    with Client(endpoint) as client:
        assert client.get(LOCK).node.value == "garbage"


def test_ttl_and_timeout_take_durations(endpoint, run_module):
    # "1d" and "500ms" were refused: ttl was an int, timeout a float
    args = {"endpoint": endpoint, "holder": "ops", "state": "locked", "ttl": "1d",
            "timeout": "500ms"}  # fmt: skip
    assert run_module(reboot_lock.main, args)["changed"] is True
    with Client(endpoint) as client:
        ttl = client.get(f"{ALIVE}/ops").node.ttl
    assert ttl is not None and 86400 - 60 < ttl <= 86400
