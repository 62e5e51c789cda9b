"""The embedded backend's durable state: a commit log in front of a SQLite snapshot.

`commit` appends the batch to `store.log` (CRC-framed, see commitlog.py) and
fdatasyncs it: that is the only I/O a write waits for. When the log passes
`LOG_LIMIT`, the changes it holds are first folded into `store.db` (SQLite, WAL,
one transaction, synced) and the log is emptied. Start-up reads the snapshot, then
replays the log's batches newer than the snapshot's index.

Why the log: SQLite was the first durable layer and it was measured as the write
path's cost. On this 2-core machine under load, one commit of 32 changed keys took
7 ms p50 in SQLite (B-tree pages for nodes, events and meta, then fdatasync of the
WAL), 0.7 ms as one record appended to zeroed space and fdatasync'ed; a one-key
commit 4.3 ms against 1.7 ms. Throughput at 32 writers is batch size over commit
time, so the log is the difference between missing and meeting etcd.

What the SQLite version guaranteed still holds: the disk always holds a prefix of
the acknowledged batches (a failed append leaves the log as it was, a failed fold
happens before the new record is written); a torn last record is dropped on start
with a log line; a file that is not a valid store (a damaged record with data after
it, a snapshot that is not a database) is refused, never served. Tables of the
snapshot: `nodes` (the tree), `events` (the last 1000, for waitIndex after a
restart), `meta` (the index, so none is ever reused); each row carries a CRC-32 of
its fields, checked on start (checksums.py), since SQLite itself would serve a
damaged value as written.

Memory: the log's row changes are kept until folded (tuples sharing the tree's
strings, at most LOG_LIMIT bytes of log), the events only as the last 1000.

Not thread-safe: the owner calls it from one thread at a time.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from corral.store import batch as batches
from corral.store import checksums
from corral.store.commitlog import CommitLog, LogCorruptError
from corral.store.event import Event
from corral.store.history import HISTORY_SIZE
from corral.store.store import JournalEntry, Row

log = logging.getLogger(__name__)

LOG_LIMIT = 16 << 20  # bytes of log before it is folded into the snapshot
EventRow = tuple[int, int, str]  # index, refresh, body

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    path TEXT PRIMARY KEY, value TEXT NOT NULL, dir INTEGER NOT NULL,
    created INTEGER NOT NULL, modified INTEGER NOT NULL, expire INTEGER NOT NULL, crc INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    idx INTEGER PRIMARY KEY, refresh INTEGER NOT NULL, body TEXT NOT NULL, crc INTEGER
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL, crc INTEGER);
"""


class CorruptDataError(Exception):
    """The data directory holds something that is not a valid store, or cannot be
    opened as one."""


class CommitError(Exception):
    """A batch could not be made durable (disk full, read-only, I/O error)."""


class Disk:
    def __init__(self, data_dir: Path, log_limit: int = LOG_LIMIT) -> None:
        self.data_dir = data_dir
        self.log_limit = log_limit
        self.path = data_dir / "store.db"
        self.wal_path = data_dir / "store.db-wal"
        self.log = CommitLog(data_dir / "store.log")
        self.db: sqlite3.Connection | None = None
        self._wal_fd: int | None = None
        self._wal_id: tuple[int, int] | None = None
        self._snapshot_index = 0
        self._index = 0
        # What the log holds beyond the snapshot, until the next fold.
        self._changes: list[JournalEntry] = []
        self._events: deque[Event] = deque(maxlen=HISTORY_SIZE)

    def open(self) -> None:
        _check_writable(self.data_dir)
        fresh = not self.path.exists()
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # One process owns the snapshot: with an exclusive lock SQLite keeps its
            # WAL index in memory instead of a shared -shm mapping, whose pages the
            # kernel answers with SIGBUS once the directory turns read-only.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # _fold() syncs the WAL itself
            db.executescript(SCHEMA)
            _add_checksum_columns(db)
            row = db.execute("SELECT value, crc FROM meta WHERE name='index'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(f"cannot use {self.path} as a corral store: {exc}") from exc
        self.db = db
        if fresh:
            _fsync_dir(self.data_dir)  # the new file's directory entry must survive a crash
        if row and not checksums.intact(row[1], checksums.meta_crc("index", row[0])):
            raise CorruptDataError(f"{self.path}: damaged index (checksum mismatch)")
        self._snapshot_index = self._index = int(row[0]) if row else 0
        self._changes = []
        self._events.clear()
        self._replay_log()

    def _replay_log(self) -> None:
        try:
            payloads = self.log.open()
        except LogCorruptError as exc:
            raise CorruptDataError(str(exc)) from exc
        except OSError as exc:
            raise CorruptDataError(f"cannot read {self.log.path}: {exc}") from exc
        if self.log.torn is not None:
            start, stop = self.log.torn
            log.warning(
                "%s: dropped a torn last write (bytes %d-%d): it was never acknowledged",
                self.log.path, start, stop,
            )  # fmt: skip
        for payload in payloads:
            try:
                b = batches.decode(payload)
            except batches.BatchError as exc:
                raise CorruptDataError(f"{self.log.path}: {exc}") from exc
            if b.index <= self._snapshot_index:
                continue  # folded already; the log was not emptied before a crash
            self._changes.extend(b.journal)
            self._events.extend(b.events)
            self._index = b.index

    def index(self) -> int:
        return self._index

    def rows(self) -> Iterator[Row]:
        """The snapshot's rows, parents first; then apply `changes()`."""
        assert self.db is not None
        cur = self.db.execute(
            "SELECT path, value, dir, created, modified, expire, crc FROM nodes ORDER BY path"
        )
        node_crc, intact = checksums.node_crc, checksums.intact
        try:
            while batch := cur.fetchmany(4096):
                for stored in batch:
                    row: Row = stored[:6]
                    if not intact(stored[6], node_crc(row)):
                        raise CorruptDataError(
                            f"{self.path}: damaged row of {row[0]!r} (checksum mismatch)"
                        )
                    yield row
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(f"{self.path}: unreadable ({exc})") from exc

    def changes(self) -> list[JournalEntry]:
        """The row changes in the log since the snapshot, in order."""
        return list(self._changes)

    def history(self) -> list[Event]:
        assert self.db is not None
        out: list[Event] = []
        try:
            for idx, refresh, body, crc in self.db.execute(
                "SELECT idx, refresh, body, crc FROM events ORDER BY idx DESC LIMIT ?",
                (HISTORY_SIZE,),
            ):
                if not checksums.intact(crc, checksums.event_crc(idx, refresh, body)):
                    raise ValueError(f"event {idx} damaged (checksum mismatch)")
                out.append(Event.from_dict(json.loads(body), bool(refresh)))
        except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
            raise CorruptDataError(f"{self.path}: unreadable event history ({exc})") from exc
        out.reverse()
        out.extend(self._events)
        return out[-HISTORY_SIZE:]

    def commit(self, journal: Sequence[JournalEntry], events: Sequence[Event], index: int) -> None:
        """Make one batch durable, all or nothing."""
        try:
            if self.log.end > self.log_limit:
                self._fold()
            self.log.append(batches.encode(journal, events, index))
        except (sqlite3.Error, OSError) as exc:
            raise CommitError(commit_failure(exc)) from exc
        self._changes.extend(journal)
        self._events.extend(events)
        self._index = index

    def _fold(self) -> None:
        """Move the log's changes into the snapshot, then empty the log. A crash
        between the two leaves records the snapshot already has: replay skips them."""
        db = self.db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            _apply(db, latest_changes(self._changes))
            rows = [(e.index, int(e.refresh), e.to_json().decode()) for e in self._events]
            db.executemany(
                "INSERT OR REPLACE INTO events (idx, refresh, body, crc) VALUES (?,?,?,?)",
                [(*r, checksums.event_crc(*r)) for r in rows],
            )
            db.execute("DELETE FROM events WHERE idx <= ?", (self._index - HISTORY_SIZE,))
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value, crc) VALUES ('index', ?, ?)",
                (self._index, checksums.meta_crc("index", self._index)),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._sync_wal()
        self.log.reset()
        self._snapshot_index = self._index
        self._changes = []
        self._events.clear()

    def _sync_wal(self) -> None:
        """fdatasync SQLite's WAL (a new WAL file also gets its directory entry synced):
        with synchronous=NORMAL this makes a transaction as durable as FULL would."""
        st = os.stat(self.wal_path)
        wal_id = (st.st_dev, st.st_ino)
        if self._wal_fd is None or self._wal_id != wal_id:
            self._close_wal()
            self._wal_fd = os.open(self.wal_path, os.O_RDONLY)
            self._wal_id = wal_id
            _fsync_dir(self.data_dir)
        os.fdatasync(self._wal_fd)

    def _close_wal(self) -> None:
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
            self._wal_id = None

    def close(self) -> None:
        self.log.close()
        self._close_wal()
        if self.db is not None:
            self.db.close()
            self.db = None


_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EPERM, errno.EACCES})
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_READONLY, _SQLITE_FULL = 8, 13


def commit_failure(exc: sqlite3.Error | OSError) -> str:
    """Why a commit failed, in the words an operator acts on."""
    if isinstance(exc, OSError):
        code = exc.errno
    else:
        primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        code = {_SQLITE_READONLY: errno.EROFS, _SQLITE_FULL: errno.ENOSPC}.get(primary)
    if code in _READ_ONLY_ERRNOS:
        return f"the data directory is read-only ({exc})"
    if code in _NO_SPACE_ERRNOS:
        return f"no space left for the data ({exc})"
    return str(exc)


def _check_writable(data_dir: Path) -> None:
    """Refuse a data directory the store cannot write before anything else fails on
    it less clearly: such a store could acknowledge no write."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorruptDataError(
            f"cannot create the data directory {data_dir}: {exc.strerror}"
        ) from None
    if os.access(data_dir, os.W_OK):
        return
    if os.statvfs(data_dir).f_flag & os.ST_RDONLY:
        raise CorruptDataError(f"the data directory {data_dir} is on a read-only file system")
    raise CorruptDataError(f"the data directory {data_dir} is read-only (immutable or permissions)")


def _add_checksum_columns(db: sqlite3.Connection) -> None:
    """A snapshot written before rows had checksums gets the column (NULL: unchecked)."""
    for table in ("nodes", "events", "meta"):
        columns = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if "crc" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER")


def latest_changes(changes: Sequence[JournalEntry]) -> list[JournalEntry]:
    """The changes a fold must apply for the same rows as all of `changes`: the last
    change of each path, and none under a directory deleted after it. Keys written
    again and again (heartbeats, a benchmark's 1000 keys) cost one row each instead of
    one per write, which kept the fold, and the commits waiting behind it, 10-25x
    shorter. Order is kept where it matters: a directory's delete comes before the
    writes under it that followed it."""
    latest: dict[str, JournalEntry] = {}
    for entry in changes:
        path = entry[1][0] if entry[0] == "put" else entry[1]
        if entry[0] == "del" and entry[2]:
            under = path + "/"
            for p in [p for p in latest if p.startswith(under)]:
                del latest[p]
        latest.pop(path, None)  # re-inserted last: after any directory delete before it
        latest[path] = entry
    return list(latest.values())


def _apply(db: sqlite3.Connection, changes: Sequence[JournalEntry]) -> None:
    put = "INSERT OR REPLACE INTO nodes (path, value, dir, created, modified, expire, crc) "
    put += "VALUES (?,?,?,?,?,?,?)"
    for entry in changes:
        if entry[0] == "put":
            db.execute(put, (*entry[1], checksums.node_crc(entry[1])))
        else:
            _, path, is_dir = entry
            db.execute("DELETE FROM nodes WHERE path=?", (path,))
            if is_dir:
                db.execute(
                    "DELETE FROM nodes WHERE path > ? AND path < ?",
                    (path + "/", path + "0"),  # '0' sorts right after '/'
                )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
