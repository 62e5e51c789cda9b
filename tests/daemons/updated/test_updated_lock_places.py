"""The reboot lock's places, one key per holder: concurrent takers of the last places
against a real corral-store never exceed max, and the earlier layout's locksmith
document (its max, its holders) still counts after an upgrade."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from updated_harness import ctl

from corral.client import Client
from corral.ctl.auth import auth_call
from corral.ctl.role import apply_layout
from corral.updated import records as r
from corral.updated.reboot_lock import Holder, RebootLock, admitted
from corral.updated.semaphore import SemaphoreError

TAKERS = 8


def test_admitted_counts_live_holders_in_the_order_they_came() -> None:
    holders = [Holder("c", 30), Holder("a", 10), Holder("dead", 5), Holder("b", 20)]
    assert admitted(2, holders, {"a", "b", "c"}) == ["a", "b"]
    assert admitted(2, holders, {"a", "c", "dead"}) == ["dead", "a"]
    assert admitted(0, holders, {"a", "b", "c"}) == []


def test_concurrent_takers_never_exceed_max(store) -> None:
    with Client(store.url) as c:
        for i in range(TAKERS):
            c.set(f"{r.ALIVE}/m{i}", "alive", ttl=120)  # every taker heartbeats
        RebootLock(c).set_max(2)
    for round_ in range(6):
        got: dict[str, bool] = {}
        start = threading.Barrier(TAKERS)

        def take(holder: str, start: threading.Barrier, got: dict[str, bool]) -> None:
            with Client(store.url) as c:
                start.wait()
                got[holder] = RebootLock(c).acquire(holder)

        threads = [threading.Thread(target=take, args=(f"m{i}", start, got))
                   for i in range(TAKERS)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = sorted(h for h, ok in got.items() if ok)
        assert len(got) == TAKERS and 1 <= len(winners) <= 2, (round_, got)
        with Client(store.url) as c:
            lock = RebootLock(c)
            assert sorted(lock.read().holders) == winners  # the others gave their keys back
            for h in winners:
                assert lock.release(h)


def test_the_earlier_layouts_document_still_counts(store) -> None:
    legacy = '{"semaphore": 0, "max": 2, "holders": ["old", "gone"]}'
    with Client(store.url) as c:
        c.set(r.LOCK, legacy)
        c.set(f"{r.ALIVE}/old", "alive", ttl=120)  # "gone" no longer heartbeats
        lock = RebootLock(c)
        assert lock.max() == 2  # its max applies while none is set the new way
        assert lock.acquire("new") is True  # "gone" expired: old and new hold the 2 places
        c.set(f"{r.ALIVE}/new", "alive", ttl=120)
        assert lock.acquire("late") is False
        rc, out = ctl(store.url, "lock", "status")
        assert rc == 0 and out.splitlines()[-3:] == ["old", "gone  (expired: no heartbeat)",
                                                     "new"]  # fmt: skip
        assert lock.release("old") is True  # taken before the upgrade, given back after
        assert '"old"' not in (c.get(r.LOCK).node.value or "")
        assert lock.acquire("late") is True
        lock.set_max(1)  # the new key wins over the document from now on
        assert lock.max() == 1 and lock.acquire("later") is False


def test_a_place_of_the_earlier_layout_an_updater_may_not_give_back_is_reported(
        store, tmp_path: Path) -> None:  # fmt: skip
    """After `role layout` revoked the updater's write on the earlier document, a machine
    that held a place there says so, and an operator frees it."""
    with Client(store.url) as root:
        auth_call(root, "PUT", "/users/root", {"user": "root", "password": "r00t-Pw-1"})
        apply_layout(root, ["m3"])
        auth_call(root, "PUT", "/users/updater-m3",
                  {"user": "updater-m3", "password": "upd-Pw-2", "roles": ["corral-updater-m3"]})
        auth_call(root, "PUT", "/enable")
    with Client(store.url, username="root", password="r00t-Pw-1") as root:
        root.set(r.LOCK, '{"semaphore": 0, "max": 1, "holders": ["m3"]}')
        with (Client(store.url, username="updater-m3", password="upd-Pw-2") as m3,
              pytest.raises(SemaphoreError, match="corralctl lock unlock --id m3")):
            RebootLock(m3).release("m3")
        secret = tmp_path / "root.password"
        secret.write_text("r00t-Pw-1\n")
        rc, out = ctl(store.url, "--username", "root", "--password-file", str(secret),
                      "lock", "unlock", "--id", "m3")  # fmt: skip
        assert (rc, out) == (0, "unlocked for m3\n")
        assert '"holders": []' in (root.get(r.LOCK).node.value or "")
