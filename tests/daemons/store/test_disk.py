"""The durable layer alone: batches in the log, folded into the snapshot, read back."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from corral.store.disk import CorruptDataError, Disk, latest_changes
from corral.store.node import render
from corral.store.store import Store


def _commit(store: Store, disk: Disk) -> None:
    disk.commit(store.take_journal(), store.take_events(), store.index)


def _reloaded(path: Path, log_limit: int = 1 << 30) -> tuple[Store, Disk]:
    disk = Disk(path, log_limit)
    disk.open()
    store = Store(lambda: 0)
    store.load(disk.rows(), disk.index())
    store.replay(disk.changes())
    return store, disk


def _tree(store: Store) -> dict:
    return render(store.root, True, True, 0)


def _writes(store: Store, disk: Disk) -> None:
    for i in range(300):
        store.set(f"/d{i % 7}/k{i}", False, f"value {i} " * 20, None)
        if i % 10 == 0:
            _commit(store, disk)
    store.delete("/d3", True, True)
    store.set("/d3/again", False, "back", None)
    store.update("/d4", "", 4 * 10**18, False)  # a directory's TTL changes; its children stay
    store.create("/q", False, "queued", True, None)
    _commit(store, disk)


def test_log_and_folds_read_back_as_the_same_tree_and_history(tmp_path: Path) -> None:
    disk = Disk(tmp_path, log_limit=4000)  # folds many times
    disk.open()
    store = Store(lambda: 0)
    _writes(store, disk)
    disk.close()
    again, disk = _reloaded(tmp_path)
    assert _tree(again) == _tree(store)
    assert again.index == store.index
    history = disk.history()
    assert [e.index for e in history] == list(range(1, store.index + 1))[-1000:]
    disk.close()


def _folded_after(tmp_path: Path, path: str, value: str) -> Store:
    """`_writes` in store.log (a copy kept as old.log), then one more write, which goes
    to store.log.1 while store.log is folded into the snapshot and emptied."""
    disk = Disk(tmp_path, log_limit=1 << 30)
    disk.open()
    store = Store(lambda: 0)
    _writes(store, disk)
    disk.close()
    shutil.copy(tmp_path / "store.log", tmp_path / "old.log")
    disk = Disk(tmp_path, log_limit=0)
    disk.open()
    store.set(path, False, value, None)
    _commit(store, disk)
    disk.close()
    assert (tmp_path / "store.log").stat().st_size == 0
    return store


def test_a_crash_between_fold_and_emptying_the_log_replays_nothing_twice(
    tmp_path: Path,
) -> None:
    store = _folded_after(tmp_path, "/after", "fold")
    shutil.copy(tmp_path / "old.log", tmp_path / "store.log")  # as if not yet emptied
    again, disk = _reloaded(tmp_path)
    assert _tree(again) == _tree(store)
    history = [e.index for e in disk.history()]
    assert history == list(range(1, store.index + 1))[-1000:]
    assert (tmp_path / "store.log").stat().st_size == 0  # emptied on start this time
    disk.close()


def test_a_crash_during_a_fold_leaves_both_logs_replayed_in_order(tmp_path: Path) -> None:
    store = _folded_after(tmp_path, "/d3/again", "changed in the other log")
    # The snapshot as before the fold, the full log not emptied: as if killed mid-fold.
    (tmp_path / "store.db").unlink()
    (tmp_path / "store.db-wal").unlink(missing_ok=True)
    shutil.copy(tmp_path / "old.log", tmp_path / "store.log")
    again, disk = _reloaded(tmp_path)
    assert _tree(again) == _tree(store)
    assert again.index == store.index
    assert disk.changes() == []  # folded on start: one log is empty for the commits
    disk.close()


def test_a_damaged_log_record_refuses_to_open_with_the_file_named(tmp_path: Path) -> None:
    disk = Disk(tmp_path)
    disk.open()
    store = Store(lambda: 0)
    _writes(store, disk)
    disk.close()
    data = bytearray((tmp_path / "store.log").read_bytes())
    data[200] ^= 0x01
    (tmp_path / "store.log").write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match=r"store\.log: damaged record"):
        Disk(tmp_path).open()


def test_one_fold_of_rewrites_and_directory_deletes_keeps_the_tree(tmp_path: Path) -> None:
    disk = Disk(tmp_path, log_limit=1 << 30)
    disk.open()
    store = Store(lambda: 0)
    for i in range(200):
        store.set(f"/hot/k{i % 5}", False, f"v{i}", None)  # the same 5 keys again and again
    store.set("/gone/a", False, "1", None)
    store.set("/gone/sub/b", False, "2", None)
    store.delete("/gone", True, True)
    store.set("/gone/sub/c", False, "back under a deleted directory", None)
    store.set("/flip", False, "1", None)
    store.delete("/flip", False, False)
    store.set("/flip", False, "again", None)
    store.set("/dropped", False, "x", None)
    store.delete("/dropped", False, False)
    _commit(store, disk)
    disk.close()
    disk = Disk(tmp_path, log_limit=0)  # the next commit folds everything above at once
    disk.open()
    store.set("/last", False, "folds", None)
    _commit(store, disk)
    disk.close()
    again, disk = _reloaded(tmp_path)
    assert _tree(again) == _tree(store)
    assert [c[1][0] for c in disk.changes()] == ["/last"]  # the rest from the snapshot
    disk.close()


def test_a_fold_writes_each_rewritten_key_once() -> None:
    store = Store(lambda: 0)
    for i in range(1000):
        store.set("/hot", False, f"v{i}", None)
    store.set("/dir/a", False, "1", None)
    store.delete("/dir", True, True)
    changes = latest_changes(store.take_journal())
    assert [c[0] for c in changes] == ["put", "del"]
    assert changes[0][1][:2] == ("/hot", "v999")
    assert changes[1][1] == "/dir"


def test_a_failed_fold_keeps_commits_going_and_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = Disk(tmp_path, log_limit=2000)
    disk.open()
    store = Store(lambda: 0)
    # The snapshot cannot take the fold: its directory and files are immutable (root
    # too is refused); the logs, open already, still take commits.
    snapshot = [str(tmp_path), *map(str, tmp_path.glob("store.db*"))]
    subprocess.run(["chattr", "+i", *snapshot], check=True)
    try:
        for i in range(60):  # several times the limit: the active log grows past it
            store.set(f"/k{i % 10}", False, f"value {i} " * 10, None)
            _commit(store, disk)
        assert "folding" in caplog.text and "failed" in caplog.text
        assert len(disk.changes()) == 60  # nothing reached the snapshot
    finally:
        subprocess.run(["chattr", "-i", *snapshot], check=True)
    deadline = time.monotonic() + 10
    while len(disk.changes()) > 10 and time.monotonic() < deadline:  # retried within 1 s
        store.set("/after", False, "more", None)
        _commit(store, disk)
        time.sleep(0.05)
    assert len(disk.changes()) <= 10, "the fold was not retried once the disk took it"
    disk.close()
    again, disk = _reloaded(tmp_path)
    assert _tree(again) == _tree(store)
    disk.close()
