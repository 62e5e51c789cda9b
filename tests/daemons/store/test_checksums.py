"""Row checksums of the snapshot: every field counts, and older snapshots still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from corral.store.checksums import node_crc
from corral.store.disk import CorruptDataError, Disk
from corral.store.store import Store

OLD_SCHEMA = """
CREATE TABLE nodes (
    path TEXT PRIMARY KEY, value TEXT NOT NULL, dir INTEGER NOT NULL,
    created INTEGER NOT NULL, modified INTEGER NOT NULL, expire INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events (idx INTEGER PRIMARY KEY, refresh INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO nodes VALUES ('/old', 'kept', 0, 1, 1, 0);
INSERT INTO meta VALUES ('index', 1);
"""


def test_a_change_to_any_field_changes_the_checksum() -> None:
    row = ("/a/b", "value", False, 3, 7, 0)
    changed = [
        ("/a/c", "value", False, 3, 7, 0),
        ("/a/b", "valuf", False, 3, 7, 0),
        ("/a/b", "value", True, 3, 7, 0),
        ("/a/b", "value", False, 2, 7, 0),
        ("/a/b", "value", False, 3, 6, 0),
        ("/a/b", "value", False, 3, 7, 1),
        ("/a/b\0value", "", False, 3, 7, 0),
    ]
    assert all(node_crc(other) != node_crc(row) for other in changed)


def test_a_snapshot_without_checksums_opens_and_gains_them_on_the_next_fold(
    tmp_path: Path,
) -> None:
    db = sqlite3.connect(tmp_path / "store.db")
    db.executescript(OLD_SCHEMA)
    db.close()
    disk = Disk(tmp_path, log_limit=0)  # every commit folds first
    disk.open()
    store = Store(lambda: 0)
    store.load(disk.rows(), disk.index())
    assert store.nodes["/old"].value == "kept"
    store.set("/new", False, "checked", None)
    disk.commit(store.take_journal(), store.take_events(), store.index)
    store.set("/newer", False, "also", None)
    disk.commit(store.take_journal(), store.take_events(), store.index)  # folds /new
    disk.close()
    db = sqlite3.connect(tmp_path / "store.db")
    crcs = dict(db.execute("SELECT path, crc FROM nodes").fetchall())
    assert crcs["/old"] is None and crcs["/new"] is not None
    db.execute("UPDATE nodes SET value='forged' WHERE path='/new'")
    db.commit()
    db.close()
    disk = Disk(tmp_path)
    disk.open()
    with pytest.raises(CorruptDataError, match=r"damaged row of '/new'"):
        list(disk.rows())
    disk.close()
