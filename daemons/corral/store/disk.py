"""The embedded backend's durable state: SQLite in WAL mode with synchronous=FULL.

Tables: `nodes` (one row per key or directory, the tree's current state), `events`
(the last 1000 events, so watches with a waitIndex survive a restart) and `meta`
(the store index, so an index is never reused). One `commit` is one SQLite
transaction: it returns only once the WAL is fsynced, and a failure rolls the whole
batch back, so the file always holds a prefix of the acknowledged writes. SQLite's WAL
checksums drop a torn tail on open; a file that is not a valid database is refused.

Not thread-safe: the owner calls it from one thread at a time.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from corral.store.event import Event
from corral.store.history import HISTORY_SIZE
from corral.store.store import JournalEntry, Row

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    path TEXT PRIMARY KEY, value TEXT NOT NULL, dir INTEGER NOT NULL,
    created INTEGER NOT NULL, modified INTEGER NOT NULL, expire INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    idx INTEGER PRIMARY KEY, refresh INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class CorruptDataError(Exception):
    """The data directory holds something that is not a valid store, or cannot be
    opened as one."""


class CommitError(Exception):
    """A batch could not be made durable (disk full, read-only, I/O error)."""


class Disk:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "store.db"
        self.db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(f"cannot use {self.path} as a corral store: {exc}") from exc
        self.db = db
        if fresh:
            _fsync_dir(self.data_dir)  # the new file's directory entry must survive a crash

    def index(self) -> int:
        assert self.db is not None
        try:
            row = self.db.execute("SELECT value FROM meta WHERE name='index'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(f"{self.path}: unreadable ({exc})") from exc
        return int(row[0]) if row else 0

    def rows(self) -> Iterator[Row]:
        assert self.db is not None
        cur = self.db.execute(
            "SELECT path, value, dir, created, modified, expire FROM nodes ORDER BY path"
        )
        try:
            while batch := cur.fetchmany(4096):
                yield from batch
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(f"{self.path}: unreadable ({exc})") from exc

    def history(self) -> list[Event]:
        assert self.db is not None
        out = []
        try:
            for refresh, body in self.db.execute(
                "SELECT refresh, body FROM events ORDER BY idx DESC LIMIT ?", (HISTORY_SIZE,)
            ):
                out.append(Event.from_dict(json.loads(body), bool(refresh)))
        except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
            raise CorruptDataError(f"{self.path}: unreadable event history ({exc})") from exc
        out.reverse()
        return out

    def commit(self, journal: Sequence[JournalEntry], events: Sequence[Event], index: int) -> None:
        """Make one batch durable, all or nothing."""
        db = self.db
        assert db is not None
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for entry in journal:
                    if entry[0] == "put":
                        db.execute("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?,?,?)", entry[1])
                    else:
                        _, path, is_dir = entry
                        db.execute("DELETE FROM nodes WHERE path=?", (path,))
                        if is_dir:
                            db.execute(
                                "DELETE FROM nodes WHERE path > ? AND path < ?",
                                (path + "/", path + "0"),  # '0' sorts right after '/'
                            )
                if events:
                    db.executemany(
                        "INSERT OR REPLACE INTO events VALUES (?,?,?)",
                        [(e.index, int(e.refresh), e.to_json().decode()) for e in events],
                    )
                    db.execute("DELETE FROM events WHERE idx <= ?", (index - HISTORY_SIZE,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('index', ?)", (index,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise CommitError(str(exc)) from exc

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
