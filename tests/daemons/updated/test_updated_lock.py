"""The reboot lock: a holder that dies frees its place after its heartbeat TTL (real
corral-updated processes), and corralctl lock works as locksmithctl does."""

from __future__ import annotations

import sys
from pathlib import Path

from updated_cluster import UpdateCluster
from updated_harness import PRODUCT, ctl

from corral.client import Client
from corral.testing import ManagedProcess, wait_until
from corral.updated import records as r


def _updated(base: Path, mid: str, endpoint: str, mirror_url: str, signers,
             reboot_command: str) -> ManagedProcess:  # fmt: skip
    argv = [sys.executable, "-m", "corral.updated.cli", "--endpoint", endpoint,
            "--machine-id", mid, "--state-dir", str(base / mid / "state"),
            "--mirror", mirror_url, "--product", PRODUCT, "--pin", signers.alice,
            "--pin", signers.bob, "--threshold", "2", "--slots", "directory",
            "--slot-dir", str(base / mid / "slots"), "--initial-version", "1.0.0",
            "--strategy", "lock", "--alive-ttl", "3s", "--interval", "1h", "--tick", "0.2s",
            "--no-canary", "--reboot-command", reboot_command]  # fmt: skip
    proc = ManagedProcess(argv, base / f"{mid}.log")
    proc.spawn()
    return proc


def test_a_holder_killed_while_holding_frees_the_lock_after_its_ttl(store, upstream, signers,
                                                                   tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    view = UpdateCluster(tmp_path, store.url, url, signers)
    # its reboot command kills corral-updated itself: the host dies holding the lock
    doomed = _updated(tmp_path, "doomed", store.url, url, signers, "kill -9 $PPID")
    survivor = None
    try:
        view.wait(lambda: not doomed.alive(), 60, "the holder to die")
        assert view.lock().holders == ["doomed"]
        reboots = tmp_path / "survivor.reboots"
        survivor = _updated(tmp_path, "survivor", store.url, url, signers,
                            f"echo reboot >> {reboots}")  # fmt: skip
        notes: set[str] = set()

        def rebooted() -> bool:
            s = view.statuses().get("survivor")
            if s is not None:
                notes.add(s.note)
            return reboots.exists()

        view.wait(rebooted, 30, "the survivor to take the lock and reboot")
        assert "waiting for the reboot lock (held by doomed)" in notes
        assert view.lock().holders == ["survivor"]
        assert view.statuses()["survivor"].status == r.NEED_REBOOT
    finally:
        doomed.kill()
        if survivor is not None:
            survivor.stop()
        view.close()


def test_corralctl_lock_takes_gives_back_and_resizes_per_group(store):
    e = store.url
    assert ctl(e, "lock", "status") == (0, "Available: 1\nMax: 1\n")
    assert ctl(e, "lock", "lock", "--id", "ops") == (0, "locked for ops\n")
    rc, out = ctl(e, "lock", "lock", "--id", "other")
    assert rc == 1 and "held by ops" in out
    assert ctl(e, "lock", "set-max", "2") == (0, "Old: 1\nNew: 2\n")
    assert ctl(e, "lock", "lock", "--id", "other")[0] == 0
    assert ctl(e, "lock", "status") == (0, "Available: 0\nMax: 2\n\nMACHINE ID\nops\nother\n")
    assert ctl(e, "lock", "unlock", "--id", "ops") == (0, "unlocked for ops\n")
    rc, out = ctl(e, "lock", "unlock", "--id", "ops")
    assert rc == 1 and "does not hold" in out
    # a group has its own semaphore
    assert ctl(e, "lock", "lock", "--group", "db", "--id", "db1")[0] == 0
    db = ctl(e, "lock", "status", "--group", "db")[1]
    assert db == "Available: 0\nMax: 1\n\nMACHINE ID\ndb1\n"
    assert ctl(e, "lock", "status")[1].startswith("Available: 1\nMax: 2")
    # a place taken by hand expires with its --ttl, like a dead daemon's
    assert ctl(e, "lock", "lock", "--group", "web", "--id", "w1", "--ttl", "1s")[0] == 0
    web = ("lock", "status", "--group", "web")
    wait_until(lambda: "w1  (expired: no heartbeat)" in ctl(e, *web)[1], 10, "w1 to expire")
    assert ctl(e, "lock", "lock", "--group", "web", "--id", "w2")[0] == 0
    assert "w1" not in ctl(e, *web)[1]
    # --ttl is a duration like every other: a day (it was refused)
    assert ctl(e, "lock", "lock", "--group", "ops", "--id", "o1", "--ttl", "1d")[0] == 0
    with Client(e) as c:
        ttl = c.get(f"{r.ALIVE}/o1").node.ttl
    assert ttl is not None and 86400 - 60 < ttl <= 86400
    rc, out = ctl(e, "lock", "lock", "--group", "ops", "--id", "o2", "--ttl", "1fortnight")
    assert rc == 1 and "--ttl: bad duration '1fortnight'" in out
    rc, out = ctl(e, "lock", "set-max", "-1")
    assert rc == 1 and "0 or more" in out
