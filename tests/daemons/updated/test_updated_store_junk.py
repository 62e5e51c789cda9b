"""The store's data is untrusted input for corral-updated: a directory where a value is
expected, an oversized value or a lock of the wrong shape is skipped or refused with
one log line, and the daemon goes on checking; never a traceback, never a failure
repeated every tick."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from updated_harness import Machine, status

from corral.client import Client
from corral.updated import records as r
from corral.updated.store_input import MAX_VALUE

TICKS = 6


def run(m: Machine, ticks: int = TICKS) -> None:
    left = iter(range(ticks))
    m.updater.run(lambda _: next(left, None) is None)


def junk_lines(caplog: pytest.LogCaptureFixture, key: str) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if key in rec.getMessage()]


@pytest.mark.parametrize("key", [
    f"{r.REQUESTS}/m1/check", f"{r.HOLDS}/m1", f"{r.HOLDS}/all", f"{r.CONFIG}/m1",
    f"{r.CONFIG}/all",
])  # fmt: skip
def test_a_directory_where_a_value_belongs_is_skipped_with_one_log_line(
        key, store, upstream, signers, tmp_path: Path, caplog):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers)
    with Client(store.url) as c:
        c.set(f"{key}/inside", "x")
    caplog.set_level(logging.INFO, logger="corral.updated")
    run(m)
    s = status(store.url, "m1")
    assert (s.status, s.note, s.config_error) == (r.IDLE, "up to date (1.0.0)", "")
    lines = junk_lines(caplog, key)
    assert lines == [f"{key}: a directory where a"
                     f" {'request' if 'requests' in key else 'value'} is expected; skipped"]


def test_an_oversized_config_record_is_refused_with_one_log_line(
        store, upstream, signers, tmp_path: Path, caplog):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
    huge = '{"strategy": "reboot", "channel": "%s"}' % ("x" * MAX_VALUE)
    with Client(store.url) as c:
        c.set(f"{r.CONFIG}/all", huge)
    caplog.set_level(logging.INFO, logger="corral.updated")
    run(m)
    s = status(store.url, "m1")
    assert (s.status, s.strategy) == (r.IDLE, "off")  # the flags still apply
    assert junk_lines(caplog, f"{r.CONFIG}/all") == [
        f"{r.CONFIG}/all: a value of {len(huge)} bytes, over the limit of {MAX_VALUE}; skipped"]


def test_a_lock_whose_holders_are_a_string_is_an_error_not_two_holders(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="lock")
    with Client(store.url) as c:
        c.set(r.LOCK, '{"semaphore": 0, "max": 1, "holders": "zz"}')
    upstream.publish("1.1.0", b"system 1.1.0\n")
    written: list[int] = []  # the status record's index after each pass
    with Client(store.url) as c:
        m.updater.run(lambda _: written.append(
            c.get(f"{r.MACHINES}/m1").node.modified_index) or len(written) == TICKS)
    s = status(store.url, "m1")
    assert s.status == r.ERROR and s.error.startswith("SemaphoreError: not a reboot semaphore")
    assert m.reboots() == 0
    assert len(set(written[-3:])) == 1  # the same error on every pass is written once
