"""corral-updated answers its control keys while a download runs: the download is on
its own thread, settings apply meanwhile, a check request is answered at once, a hold
stops it (its partial file stays and the next download resumes it), and the fetcher's
pace abandons a mirror that is too slow, reported. The slow mirror is a real HTTP
server over the mirror directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

from updated_faults import SlowMirror
from updated_harness import Machine, ctl, status

from corral.client import Client
from corral.mirror.pace import Pace
from corral.updated import records as r


def wait(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_hold_and_a_check_are_answered_while_a_slow_download_runs(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    content = os.urandom(1 << 20)
    upstream.publish("1.1.0", content)
    mirror = SlowMirror(upstream.dir, rate=256 << 10)  # 4 s for the payload
    try:
        m = Machine(tmp_path, "m1", store.url, mirror.url, signers, strategy="off",
                    whole_steps=False)  # fmt: skip
        m.updater.after_boot()
        started = time.monotonic()
        m.updater.step()
        assert time.monotonic() - started < 2  # it did not wait for the download
        assert status(store.url, "m1").status == r.DOWNLOADING
        assert ctl(store.url, "update", "check", "m1")[0] == 0
        m.updater.step()
        assert status(store.url, "m1").note == "checked: 1.1.0 is downloading"
        with Client(store.url) as c:  # the request was consumed
            assert not c.get(f"{r.REQUESTS}/m1").node.nodes
        assert ctl(store.url, "update", "set", "m1", "--strategy", "external")[0] == 0
        m.updater.step()
        assert status(store.url, "m1").strategy == "external"  # settings applied meanwhile
        assert ctl(store.url, "update", "hold", "m1")[0] == 0
        m.updater.step()
        assert status(store.url, "m1").note == "held: stopping the download of 1.1.0"
        assert time.monotonic() - started < 3  # all answered while the download ran
        wait(lambda: not m.updater.job.running, 5)  # it stops within one slice
        m.updater.step()
        s = status(store.url, "m1")
        assert (s.status, s.note) == (r.IDLE, "held: keeping the installed version")
        partial = next((m.base / "state" / "downloads").glob(".*.partial"))
        assert 0 < partial.stat().st_size < len(content)  # kept for resuming
        assert ctl(store.url, "update", "release", "m1")[0] == 0
        assert ctl(store.url, "update", "check", "m1")[0] == 0
        m.updater.step()
        wait(lambda: not m.updater.job.running, 20)
        m.updater.step()
        assert status(store.url, "m1").status == r.NEED_REBOOT
        assert Path(m.slots.location("b")).read_bytes() == content
    finally:
        mirror.close()


def test_a_download_under_the_minimum_rate_is_abandoned_and_reported(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    upstream.publish("1.1.0", os.urandom(1 << 20))
    mirror = SlowMirror(upstream.dir, rate=128 << 10)  # 8 s for the payload
    try:
        m = Machine(tmp_path, "m1", store.url, mirror.url, signers, strategy="off",
                    whole_steps=False, pace=Pace(min_rate=512 << 10, grace=0.5))  # fmt: skip
        m.updater.after_boot()
        started = time.monotonic()
        m.updater.step()
        assert status(store.url, "m1").status == r.DOWNLOADING
        wait(lambda: not m.updater.job.running, 6)
        m.updater.step()
        assert time.monotonic() - started < 6
        s = status(store.url, "m1")
        assert s.status == r.ERROR and "SlowRetrieval" in s.error and "too slow" in s.error
        assert list((m.base / "state" / "downloads").iterdir()) == []  # a drip is not kept
    finally:
        mirror.close()
