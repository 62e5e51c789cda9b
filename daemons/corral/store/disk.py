"""The embedded backend's durable state: commit logs in front of a SQLite snapshot.

`commit` appends the batch to the active log (CRC-framed, see commitlog.py) and
fdatasyncs it: that is the only I/O a write waits for. There are two logs,
`store.log` and `store.log.1`, used in turn. When the active one passes `LOG_LIMIT`
and the other is empty, they swap: commits go on in the empty one while a fold
thread moves the full one's changes into `store.db` (SQLite, WAL, one transaction,
synced) and then empties it. A fold that fails (disk full) is retried later; the
active log grows past the limit meanwhile. Start-up reads the snapshot, then replays
both logs' batches newer than the snapshot's index, in index order.

Why the log: SQLite was the first durable layer and its commit (B-tree pages, then
fdatasync of the WAL) was most of a write's cost; an append to a log is a fraction of
it. Why the fold runs beside the commits: done in the commit path, a fold held every
commit behind it for its duration. Figures: docs/performance.md.

What the SQLite version guaranteed still holds: the disk always holds a prefix of
the acknowledged batches (a failed append leaves the log as it was; a log is emptied
only after its fold is synced); a torn last record is dropped on start with a log
line; a file that is not a valid store (a damaged record with data after it, a
snapshot that is not a database) is refused, never served; so is a data directory
of a newer format (data_format.py), before anything in it is changed. Tables of the snapshot:
`nodes` (the tree), `events` (the last 1000, for waitIndex after a restart), `meta`
(the index, so none is ever reused); each row carries a CRC-32 of its fields,
checked on start (checksums.py), since SQLite itself would serve a damaged value as
written.

Memory: the logs' row changes are kept until folded (tuples sharing the tree's
strings, about two LOG_LIMITs of log), the events only as the last 1000.

Not thread-safe: the owner calls it from one thread at a time; the fold thread it
starts touches only the snapshot and the log being folded, and everything that
reads the snapshot waits for it first.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from corral import formats
from corral.durable import fsync_dir
from corral.store import batch as batches
from corral.store import checksums, metrics
from corral.store.commitlog import CommitLog, LogCorruptError
from corral.store.data_format import DATA_FORMAT
from corral.store.event import Event
from corral.store.history import HISTORY_SIZE
from corral.store.store import DeleteRow, JournalEntry, PutRow, Row

log = logging.getLogger(__name__)

LOG_LIMIT = 16 << 20  # bytes of log before it is folded into the snapshot
FOLD_RETRY = 1.0  # seconds between attempts after a failed fold
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


class _Fold:
    """One fold on its thread: the changes of a full log going into the snapshot."""

    def __init__(self, changes: list[JournalEntry], events: list[Event], index: int) -> None:
        self.changes = changes
        self.events = events
        self.index = index
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None


class Disk:
    """The embedded backend's durable state: two commit logs and a SQLite snapshot."""

    def __init__(self, data_dir: Path, log_limit: int = LOG_LIMIT) -> None:
        self.data_dir = data_dir
        self.log_limit = log_limit
        self.path = data_dir / "store.db"
        self.wal_path = data_dir / "store.db-wal"
        self.log = CommitLog(data_dir / "store.log")  # the active log
        self._spare = CommitLog(data_dir / "store.log.1")
        self.db: sqlite3.Connection | None = None
        self._wal_fd: int | None = None
        self._wal_id: tuple[int, int] | None = None
        self._snapshot_index = 0
        self._index = 0
        # What the active log holds beyond the snapshot.
        self._changes: list[JournalEntry] = []
        # The spare log's batches while not yet in the snapshot: being folded, or
        # waiting for a retry after a failed fold.
        self._unfolded: _Fold | None = None
        self._retry_at = 0.0
        self._events: deque[Event] = deque(maxlen=HISTORY_SIZE)  # the last ones committed

    def open(self) -> None:
        _check_writable(self.data_dir)
        formats.open_directory(self.data_dir, DATA_FORMAT)  # before anything is written
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
            fsync_dir(self.data_dir)  # the new file's directory entry must survive a crash
        if row and not checksums.intact(row[1], checksums.meta_crc("index", row[0])):
            raise CorruptDataError(f"{self.path}: damaged index (checksum mismatch)")
        self._snapshot_index = self._index = int(row[0]) if row else 0
        self._changes = []
        self._unfolded = None
        self._events.clear()
        self._replay_logs()

    def _replay_logs(self) -> None:
        """Both logs' batches newer than the snapshot, in index order; the log holding
        them becomes the active one. Should both hold some (a crash during a fold),
        everything is folded now, so one log is empty again when commits start."""
        newer: list[tuple[int, CommitLog, list[batches.Batch]]] = []
        for commit_log in (self.log, self._spare):
            found = [b for b in self._read_log(commit_log) if b.index > self._snapshot_index]
            if found:
                newer.append((found[0].index, commit_log, found))
        newer.sort(key=lambda t: t[0])
        for _, _, found in newer:
            for b in found:
                self._changes.extend(b.journal)
                self._events.extend(b.events)
                self._index = b.index
        try:
            if len(newer) == 2:
                self._fold(_Fold(self._changes, list(self._events), self._index))
                self._snapshot_index = self._index
                self._changes = []
            elif newer and newer[0][1] is self._spare:
                self.log, self._spare = self._spare, self.log
            if self._spare.end:  # folded already: a crash came before it was emptied
                self._spare.reset()
            if len(newer) == 2:
                self.log.reset()
        except (sqlite3.Error, OSError) as exc:
            raise CorruptDataError(f"cannot fold the logs into {self.path}: {exc}") from exc

    def _read_log(self, commit_log: CommitLog) -> list[batches.Batch]:
        try:
            payloads = commit_log.open()
        except LogCorruptError as exc:
            raise CorruptDataError(str(exc)) from exc
        except OSError as exc:
            raise CorruptDataError(f"cannot read {commit_log.path}: {exc}") from exc
        if commit_log.torn is not None:
            start, stop = commit_log.torn
            log.warning(
                "%s: dropped a torn last write (bytes %d-%d): it was never acknowledged",
                commit_log.path, start, stop,
            )  # fmt: skip
        out = []
        for payload in payloads:
            try:
                out.append(batches.decode(payload))
            except batches.BatchError as exc:
                raise CorruptDataError(f"{commit_log.path}: {exc}") from exc
        return out

    def index(self) -> int:
        return self._index

    @property
    def log_bytes(self) -> int:
        """Bytes of records in both logs: what a fold has yet to move (read from any
        thread: two ints)."""
        return self.log.end + self._spare.end

    def rows(self) -> Iterator[Row]:
        """The snapshot's rows, parents first; then apply `changes()`."""
        self._settle_fold()
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
        """The row changes in the logs since the snapshot, in order."""
        self._settle_fold()
        unfolded = self._unfolded.changes if self._unfolded is not None else []
        return [*unfolded, *self._changes]

    def history(self) -> list[Event]:
        self._settle_fold()
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
        if self._events:  # the snapshot's copies of these are the same events
            first = self._events[0].index
            out = [e for e in out if e.index < first]
        out.extend(self._events)
        return out[-HISTORY_SIZE:]

    def commit(self, journal: Sequence[JournalEntry], events: Sequence[Event], index: int) -> None:
        """Make one batch durable, all or nothing."""
        try:
            if self.log.end > self.log_limit:
                self._start_fold()
            synced = self.log.append(batches.encode(journal, events, index))
        except OSError as exc:
            raise CommitError(commit_failure(exc)) from exc
        metrics.WAL_FSYNC.observe(synced)
        self._changes.extend(journal)
        self._events.extend(events)
        self._index = index

    def _start_fold(self) -> None:
        """Swap the logs and fold the full one beside the commits, if the spare is free
        (else retry a failed fold of what it holds, at most every FOLD_RETRY)."""
        unfolded = self._unfolded
        if unfolded is not None:
            if unfolded.thread is not None and unfolded.thread.is_alive():
                return
            self._reap(unfolded)
            if self._unfolded is not None:  # it failed: the spare still holds its batches
                if time.monotonic() < self._retry_at:
                    return
                self._retry_at = time.monotonic() + FOLD_RETRY
                self._run(unfolded)
                return
        fold = _Fold(self._changes, list(self._events), self._index)
        self.log, self._spare = self._spare, self.log
        self._changes = []
        self._unfolded = fold
        self._run(fold)

    def _run(self, fold: _Fold) -> None:
        fold.error = None
        full = self._spare

        def work() -> None:
            started = time.perf_counter()
            try:
                self._fold(fold)
                full.reset()
            except BaseException as exc:  # reaped on the owner's thread
                fold.error = exc
                return
            metrics.FOLD_DURATION.observe(time.perf_counter() - started)

        fold.thread = threading.Thread(target=work, name="corral-store-fold", daemon=True)
        fold.thread.start()

    def _reap(self, fold: _Fold) -> None:
        """Wait for a fold's thread and take its outcome (on the owner's thread)."""
        if fold.thread is None:
            return
        fold.thread.join()
        fold.thread = None
        if fold.error is None:
            self._snapshot_index = fold.index
            self._unfolded = None
            return
        exc = fold.error
        why = commit_failure(exc) if isinstance(exc, (sqlite3.Error, OSError)) else repr(exc)
        log.error("folding %s into %s failed, will retry: %s", self._spare.path, self.path, why)

    def _settle_fold(self) -> None:
        """Wait for a running fold, so that the snapshot can be read."""
        if self._unfolded is not None:
            self._reap(self._unfolded)

    def _fold(self, fold: _Fold) -> None:
        """Move a log's changes into the snapshot. A crash before the log is emptied
        leaves records the snapshot already has: replay skips them."""
        db = self.db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            _apply(db, latest_changes(fold.changes))
            rows = [(e.index, int(e.refresh), e.to_json().decode()) for e in fold.events]
            db.executemany(
                "INSERT OR REPLACE INTO events (idx, refresh, body, crc) VALUES (?,?,?,?)",
                [(*r, checksums.event_crc(*r)) for r in rows],
            )
            db.execute("DELETE FROM events WHERE idx <= ?", (fold.index - HISTORY_SIZE,))
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value, crc) VALUES ('index', ?, ?)",
                (fold.index, checksums.meta_crc("index", fold.index)),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._sync_wal()

    def _sync_wal(self) -> None:
        """fdatasync SQLite's WAL (a new WAL file also gets its directory entry synced):
        with synchronous=NORMAL this makes a transaction as durable as FULL would."""
        st = os.stat(self.wal_path)
        wal_id = (st.st_dev, st.st_ino)
        if self._wal_fd is None or self._wal_id != wal_id:
            self._close_wal()
            self._wal_fd = os.open(self.wal_path, os.O_RDONLY)
            self._wal_id = wal_id
            fsync_dir(self.data_dir)
        os.fdatasync(self._wal_fd)

    def _close_wal(self) -> None:
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
            self._wal_id = None

    def close(self) -> None:
        if self._unfolded is not None and self._unfolded.thread is not None:
            self._unfolded.thread.join()
        self.log.close()
        self._spare.close()
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
    """The changes a fold must apply for the same rows as all of `changes`, in their
    order: each path's last change, and nothing a later directory delete removes.
    Keys written again and again (heartbeats, a benchmark's 1000 keys) cost one row
    each instead of one per write, which kept the fold, and the commits waiting behind
    it, 10-25x shorter.

    A directory's delete also stands for the rows under it, which may be in the
    snapshot: it is kept even when its own path is written again later (a directory
    made again, or a file where it was), and goes before that write.

    One pass from the newest change back, each checked against its path and its
    ancestors' (linear in the changes; not in the changes times the paths, which a
    delete that looked through every later path was)."""
    written: set[str] = set()  # paths with a later change
    wiped: set[str] = set()  # directories deleted later: nothing under them survives
    kept: list[JournalEntry] = []
    for entry in reversed(changes):
        path = entry.path
        if _under_any(path, wiped):
            continue
        if isinstance(entry, DeleteRow) and entry.is_dir:
            if path in wiped:
                continue  # a later delete of the same directory covers this one
            wiped.add(path)
        elif path in written:
            continue
        written.add(path)
        kept.append(entry)
    kept.reverse()
    return kept


def _under_any(path: str, directories: set[str]) -> bool:
    """Whether one of `path`'s ancestors is in `directories`."""
    if not directories:
        return False
    end = path.rfind("/")
    while end > 0:
        if path[:end] in directories:
            return True
        end = path.rfind("/", 0, end)
    return False


def _apply(db: sqlite3.Connection, changes: Sequence[JournalEntry]) -> None:
    put = "INSERT OR REPLACE INTO nodes (path, value, dir, created, modified, expire, crc) "
    put += "VALUES (?,?,?,?,?,?,?)"
    for entry in changes:
        if isinstance(entry, PutRow):
            db.execute(put, (*entry.row, checksums.node_crc(entry.row)))
        else:
            path = entry.path
            db.execute("DELETE FROM nodes WHERE path=?", (path,))
            if entry.is_dir:
                db.execute(
                    "DELETE FROM nodes WHERE path > ? AND path < ?",
                    (path + "/", path + "0"),  # '0' sorts right after '/'
                )
