"""A full disk does not stay full, and a canary that cannot install does not stall the
fleet silently: the free space is checked against the payload before downloading,
partial files are removed on a failure, and the machines waiting for the canary show
its error. The small disks are real tmpfs mounts (the tests run as root)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from updated_faults import SlowMirror, small_disk
from updated_harness import Machine, ctl, status

from corral.client import Client
from corral.updated import records as r


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("these tests mount a tmpfs: run them as root (make test does)")


def run_until(m: Machine, done: Callable[[], bool], timeout: float = 20) -> None:
    """The daemon's own loop (errors reported, not raised) until `done()`."""
    deadline = time.monotonic() + timeout
    m.updater.run(lambda tick: (time.sleep(min(tick, 0.05)),
                                done() or time.monotonic() > deadline)[1])  # fmt: skip
    assert done(), status(m.endpoint, m.machine_id)


def alive(url: str, *machines: str) -> None:
    with Client(url) as c:
        for name in machines:
            c.set(f"{r.ALIVE}/{name}", "alive", ttl=60)


def test_a_canary_without_room_halts_the_rollout_visibly_until_an_operator_acts(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    with small_disk(tmp_path / "m1" / "state" / "downloads", "1m") as downloads:
        canary = Machine(tmp_path, "m1", store.url, url, signers)
        other = Machine(tmp_path, "m2", store.url, url, signers)
        alive(store.url, "m1", "m2")
        for m in (canary, other):
            m.updater.after_boot()
        upstream.publish("1.1.0", os.urandom(2 << 20))
        run_until(canary, lambda: status(store.url, "m1").status == r.ERROR)
        s = status(store.url, "m1")
        assert s.error.startswith(f"NoSpace: not enough space in {downloads}")
        assert "margin" in s.error and canary.reboots() == 0
        assert list(downloads.iterdir()) == []  # nothing fetched, nothing left
        # m1, the canary, still heartbeats: m2 waits, and says why
        run_until(other, lambda: "m1 reports NoSpace" in status(store.url, "m2").note)
        assert status(store.url, "m2").note.startswith("release 1.1.0 waits for m1")
        rc, out = ctl(store.url, "update", "status")
        assert rc == 0 and "not enough space" in out
        # an operator holds m1: m2 becomes the canary and installs
        assert ctl(store.url, "update", "hold", "m1")[0] == 0
        other.updater.next_check = 0
        run_until(other, lambda: status(store.url, "m2").status == r.NEED_REBOOT)


def test_a_disk_that_fills_during_the_download_is_emptied_again(store, upstream, signers,
                                                                tmp_path: Path):  # fmt: skip
    upstream.publish("1.1.0", os.urandom(700 << 10))
    mirror = SlowMirror(upstream.dir, rate=512 << 10)
    try:
        with small_disk(tmp_path / "m1" / "state" / "downloads", "1m") as downloads:
            m = Machine(tmp_path, "m1", store.url, mirror.url, signers, whole_steps=False,
                        strategy="off", free_margin=0)  # fmt: skip
            partials = lambda: list(downloads.glob(".*.partial"))  # noqa: E731

            def fill() -> None:  # something else fills the disk while the download runs
                deadline = time.monotonic() + 20
                while not partials():  # receiving: its first write is yet to come
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
                (downloads / "other").mkdir()
                (downloads / "other" / "fill").write_bytes(bytes(600 << 10))

            filler = threading.Thread(target=fill, daemon=True)
            filler.start()
            run_until(m, lambda: status(store.url, "m1").status == r.ERROR)
            filler.join(5)
            assert "No space left on device" in status(store.url, "m1").error
            assert partials() == []  # the partial payload is gone again
            (downloads / "other" / "fill").unlink()
            # with room again, the next check installs it
            assert ctl(store.url, "update", "check", "m1")[0] == 0
            run_until(m, lambda: status(store.url, "m1").status == r.NEED_REBOOT)
    finally:
        mirror.close()


def test_a_slot_too_small_for_the_payload_is_left_clean(store, upstream, signers,
                                                        tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    with small_disk(tmp_path / "m1" / "slots", "1m") as slots:
        m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
        upstream.publish("1.1.0", os.urandom(1536 << 10))
        run_until(m, lambda: status(store.url, "m1").status == r.ERROR)
        s = status(store.url, "m1")
        assert "No space left on device" in s.error and s.status == r.ERROR
        assert list((slots / "b").iterdir()) == []  # no partial slot payload
        assert list((m.base / "state" / "downloads").iterdir()) == []
        assert not m.slots.load().slot("b").bootable  # never staged half-written
