"""The durable layer alone: batches in the log, folded into the snapshot, read back."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from corral.store import checksums
from corral.store.disk import CorruptDataError, Disk, latest_changes
from corral.store.embedded import EmbeddedBackend
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


def _fold_all(path: Path, store: Store) -> None:
    """Fold everything committed so far into the snapshot (one more commit, of /last)."""
    disk = Disk(path, log_limit=0)
    disk.open()
    store.set("/last", False, "folds", None)
    _commit(store, disk)
    disk.close()


def test_a_directory_deleted_and_made_again_keeps_none_of_its_old_keys(tmp_path: Path) -> None:
    """A fold that saw a directory deleted and then made again must still delete what
    was under it in the snapshot, or those keys come back at the next start."""
    store = Store(lambda: 0)
    disk = Disk(tmp_path)
    disk.open()
    store.set("/units/a/state", False, "launched", None)
    store.set("/units/b/state", False, "launched", None)
    store.set("/units/b/owner", False, "m1", None)
    _commit(store, disk)
    disk.close()
    _fold_all(tmp_path, store)  # the old keys are in the snapshot now
    disk = Disk(tmp_path)
    disk.open()
    store.delete("/units/a", True, True)
    store.set("/units/a", True, "", None)  # made again, empty
    store.delete("/units/b", True, True)
    store.set("/units/b", False, "a file where the directory was", None)
    _commit(store, disk)
    disk.close()
    _fold_all(tmp_path, store)
    again, disk = _reloaded(tmp_path)
    assert [c[1][0] for c in disk.changes()] == ["/last"]  # all of it from the snapshot
    assert _tree(again) == _tree(store)
    assert "/units/a/state" not in again.nodes and "/units/b/owner" not in again.nodes
    disk.close()


def test_keys_left_under_a_deleted_directory_by_an_earlier_fold_stay_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot from before folds kept directory deletes may hold keys under a path
    that is a file now: they are left out at start, with a warning, not a traceback."""
    store = Store(lambda: 0)
    disk = Disk(tmp_path)
    disk.open()
    store.set("/units/b/owner", False, "m1", None)
    _commit(store, disk)
    disk.close()
    _fold_all(tmp_path, store)
    row = ("/units/b", "a file where the directory was", False, 9, 9, 0)
    db = sqlite3.connect(tmp_path / "store.db")
    db.execute(  # what such a fold did: the new file written, the old keys left
        "UPDATE nodes SET value=?, dir=0, created=9, modified=9, crc=? WHERE path='/units/b'",
        (row[1], checksums.node_crc(row)),
    )
    db.commit()
    db.close()
    again, disk = _reloaded(tmp_path)
    disk.close()
    assert again.nodes["/units/b"].value == row[1] and "/units/b/owner" not in again.nodes

    async def start() -> None:
        backend = EmbeddedBackend(tmp_path)
        await backend.start()
        await backend.stop()

    asyncio.run(start())
    assert "left out 1 keys under directories deleted" in caplog.text


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
