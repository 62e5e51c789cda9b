"""When a machine asked to reboot is back (pure): only history entries written after
the request count, a rollback of the version fails at once, and `good` alone is not
enough until the status says IDLE on the version."""

from __future__ import annotations

import json

import pytest
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.update_verdict import rebooted

IDLE_NEW = {"status": "UPDATE_STATUS_IDLE", "version": "1.1.0"}


def _entry(event: str, version: str = "1.1.0", detail: str = "") -> str:
    return json.dumps({"time": "t", "event": event, "version": version, "detail": detail})


def test_an_old_good_verdict_says_nothing_about_this_reboot():
    history = {"7": _entry("good")}
    assert rebooted("m1", "1.1.0", IDLE_NEW, history, before={"7"}) is False
    assert rebooted("m1", "1.1.0", IDLE_NEW, history, before=set()) is True


def test_good_waits_for_idle_on_the_version():
    history = {"12": _entry("reboot"), "15": _entry("good")}
    verifying = {"status": "UPDATE_STATUS_VERIFYING", "version": "1.1.0"}
    assert rebooted("m1", "1.1.0", verifying, history, set()) is False
    assert rebooted("m1", "1.1.0", IDLE_NEW, history, set()) is True


def test_a_rollback_of_the_version_fails_naming_why():
    history = {"9": _entry("good", "1.0.0"), "21": _entry("rollback", detail="check failed")}
    gate = r"did not keep 1\.1\.0: its health gate failed \(check failed\)"
    with pytest.raises(Refused, match=gate):
        rebooted("m1", "1.1.0", {"status": "UPDATE_STATUS_IDLE", "version": "1.0.0"}, history,
                 set())  # fmt: skip


def test_unreadable_entries_are_skipped():
    history = {"3": "{", "4": "[]", "5": _entry("good")}
    assert rebooted("m1", "1.1.0", IDLE_NEW, history, set()) is True
    assert rebooted("m1", "1.1.0", None, None, set()) is False
