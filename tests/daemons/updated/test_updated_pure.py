"""The reboot semaphore (locksmith's format), maintenance windows and where a machine
stands by its slots (`converge`), as pure rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from corral.updated.converge import assess
from corral.updated.local_state import Staged
from corral.updated.semaphore import Semaphore, SemaphoreError
from corral.updated.slots import BootState, SlotState
from corral.updated.windows import MaintenanceWindow, WindowError, reboot_allowed


def test_semaphore_admits_up_to_max_and_is_idempotent_per_holder():
    sem = Semaphore(2, 2, [])
    assert sem.acquire("a") and sem.acquire("a") and sem.acquire("b")
    assert not sem.acquire("c")
    assert json.loads(sem.dump()) == {"semaphore": 0, "max": 2, "holders": ["a", "b"]}
    assert sem.release("a") and not sem.release("a")
    assert sem.acquire("c") and sem.holders == ["b", "c"]


def test_semaphore_set_max_and_drop_expired_holders():
    sem = Semaphore.parse('{"semaphore": 0, "max": 1, "holders": ["dead"]}')
    sem.set_max(3)
    assert (sem.semaphore, sem.max) == (2, 3)
    assert sem.drop({"dead", "other"}) == ["dead"] and sem.semaphore == 3
    with pytest.raises(SemaphoreError, match="0 or more"):
        sem.set_max(-1)
    with pytest.raises(SemaphoreError, match="not a reboot semaphore"):
        Semaphore.parse('{"max": 1}')


@pytest.mark.parametrize("text", [
    '{"semaphore": 0, "max": 1, "holders": "zz"}',  # a string is not two holders
    '{"semaphore": 0, "max": 1, "holders": [1, 2]}',
    '{"semaphore": "0", "max": 1, "holders": []}',
    '{"semaphore": true, "max": 1, "holders": []}',
    '{"semaphore": 0.5, "max": 1, "holders": []}',
    '[0, 1, []]',
    "not json",
])  # fmt: skip
def test_a_lock_value_of_the_wrong_shape_is_refused_never_iterated(text: str):
    with pytest.raises(SemaphoreError, match="not a reboot semaphore"):
        Semaphore.parse(text)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_window_open_on_its_days_and_hours_in_its_time_zone():
    w = MaintenanceWindow.parse("Mon-Fri 02:00 2h Europe/Berlin")
    # 2026-01-05 is a Monday; Berlin is UTC+1 in winter
    assert w.contains(_utc("2026-01-05T01:30:00"))
    assert not w.contains(_utc("2026-01-05T00:59:00"))
    assert not w.contains(_utc("2026-01-05T03:00:00"))
    assert not w.contains(_utc("2026-01-10T01:30:00"))  # Saturday
    # summer time: UTC+2
    assert w.contains(_utc("2026-07-06T00:30:00"))


def test_window_running_past_midnight_and_wrapping_day_ranges():
    w = MaintenanceWindow.parse("Sun 23:00 3h")
    assert w.contains(_utc("2026-01-05T01:00:00"))  # Monday 01:00, opened Sunday
    assert not w.contains(_utc("2026-01-06T01:00:00"))
    weekend = MaintenanceWindow.parse("Sat-Mon 12:00 30m UTC")
    assert weekend.days == frozenset({5, 6, 0})


def test_no_window_means_any_time_and_several_windows_combine():
    now = _utc("2026-01-07T12:10:00")  # Wednesday
    assert reboot_allowed(now, [])
    windows = [MaintenanceWindow.parse("Mon 12:00 1h"), MaintenanceWindow.parse("Wed 12:00 15m")]
    assert reboot_allowed(now, windows)
    assert not reboot_allowed(_utc("2026-01-07T12:20:00"), windows)


@pytest.mark.parametrize("text, why", [
    ("Mon 02:00", "expected DAYS START LENGTH"),
    ("Funday 02:00 1h", "not a day"),
    ("Mon 25:00 1h", "not HH:MM"),
    ("Mon 02:00 soon", "length: bad duration .soon."),
    ("Mon 02:00 0m", "above 0"),
    ("Mon 02:00 1h Mars/Base", "unknown time zone"),
])  # fmt: skip
def test_bad_windows_are_refused_with_the_reason(text, why):
    with pytest.raises(WindowError, match=why):
        MaintenanceWindow.parse(text)


def test_reboot_policy_per_strategy_window_and_request():
    from corral.updated.policy import wait_reason

    inside, outside = _utc("2026-01-05T12:10:00"), _utc("2026-01-05T13:10:00")  # Monday
    windows = [MaintenanceWindow.parse("Mon 12:00 1h")]
    for strategy in ("reboot", "lock"):
        assert wait_reason(strategy, False, inside, windows, "m1") is None
        assert wait_reason(strategy, False, outside, windows, "m1") == \
            "waiting for a maintenance window"  # fmt: skip
        assert wait_reason(strategy, False, outside, [], "m1") is None
    assert "strategy off" in (wait_reason("off", False, inside, windows, "m1") or "")
    assert "corralctl update reboot m1" in (wait_reason("external", False, inside, [], "m1") or "")
    # an operator's request goes ahead under any strategy, outside windows too
    for strategy in ("reboot", "lock", "off", "external"):
        assert wait_reason(strategy, True, outside, windows, "m1") is None


def _state(booted: str, a: SlotState, b: SlotState) -> BootState:
    return BootState(booted, {"a": a, "b": b})


GOOD_A = SlotState(1, 0, True, "1.0.0")
WRITTEN = Staged("b", "1.1.0", "rel-1.1.0")


@pytest.mark.parametrize("state, gate, bad_slot, staged, stray, fell_back", [
    # staged, remembered: reboot into it when the policy allows
    (_state("a", GOOD_A, SlotState(2, 1, False, "1.1.0")), False, False, WRITTEN, False, None),
    # staged with a version nothing remembers writing: invalidated, installed again
    (_state("a", GOOD_A, SlotState(2, 1, False, "1.2.0")), False, False, None, True, None),
    # booted into it (by the daemon, by hand, by a power cut): the health gate decides
    (_state("b", GOOD_A, SlotState(2, 0, False, "1.1.0")), True, False, None, False, None),
    # its try spent and back on a: the boot loader fell back
    (_state("a", GOOD_A, SlotState(2, 0, False, "1.1.0")), False, False, None, False, WRITTEN),
    # marked bad while running it: the reboot back is due
    (_state("b", GOOD_A, SlotState(0, 0, False, "1.1.0")), False, True, None, False, None),
    # written half-way (invalidated): nothing to do but check again
    (_state("a", GOOD_A, SlotState(0, 0, False, "")), False, False, None, False, None),
])  # fmt: skip
def test_where_a_machine_stands_is_read_from_its_slots(state, gate, bad_slot, staged, stray,
                                                       fell_back):  # fmt: skip
    s = assess(state, WRITTEN)
    assert (s.gate_due, s.on_bad_slot, s.staged, s.stray, s.fell_back) == (
        gate, bad_slot, staged, stray, fell_back)
    assert s.release == (WRITTEN if state.booted == "b" else None)
