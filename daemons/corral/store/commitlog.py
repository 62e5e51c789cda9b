"""The write-ahead commit log: one CRC-framed record per committed batch, appended and
fdatasync'ed before the batch is answered.

Frame: `<u32 length><u32 crc32(payload)>payload`. The file is grown ahead of the
records in zero-filled chunks (`CHUNK`), so a commit's fdatasync writes the record's
pages only, not the file's size and block map (an overwrite of zeroed space measured a
third of a growing append; docs/performance.md).

Invariants, relied on by recovery (`scan`):
- records are written back to back from offset 0; everything after the last record
  is zeros (a header of zeros ends the log);
- a damaged record (short, or its CRC wrong) followed only by zeros is the torn tail
  of a write that never returned: it is dropped (and zeroed so later appends cannot
  revive it); a damaged record followed by anything else is corruption, and the
  store refuses to start rather than serve a guess.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from corral.durable import fsync_dir

HEADER = struct.Struct("<II")
CHUNK = 1 << 20  # zeros added to the file at a time
_ZEROS = bytes(CHUNK)


class LogCorruptError(Exception):
    """A damaged record with more data after it: not a torn tail."""


@dataclass(frozen=True)
class Scan:
    """What recovery found in a log: its payloads, where it ends, any torn tail."""

    payloads: list[bytes]
    end: int  # where the next record goes
    torn: tuple[int, int] | None  # the byte range of a dropped torn tail


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def scan(buf: bytes | memoryview, name: str = "log") -> Scan:
    """The intact records of a log file's contents (pure: no I/O)."""
    view = memoryview(buf)
    size = len(view)
    payloads: list[bytes] = []
    off = 0
    while off + HEADER.size <= size:
        length, crc = HEADER.unpack_from(view, off)
        if length == 0 and crc == 0:
            return Scan(payloads, off, _tail_junk(view, off, name))
        end = off + HEADER.size + length
        if end <= size:
            payload = bytes(view[off + HEADER.size : end])
            if zlib.crc32(payload) == crc:
                payloads.append(payload)
                off = end
                continue
        junk_end = min(end, size)
        if any(view[junk_end:]):
            raise LogCorruptError(
                f"{name}: damaged record at byte {off} with data after it (not a torn write)"
            )
        return Scan(payloads, off, (off, junk_end))
    return Scan(payloads, off, _tail_junk(view, off, name))


def _tail_junk(view: memoryview, off: int, name: str) -> tuple[int, int] | None:
    """A few nonzero bytes where the zeros should start: a header torn mid-write."""
    rest = view[off : off + HEADER.size]
    if not any(rest):
        if any(view[off:]):
            raise LogCorruptError(f"{name}: data after the end of the log at byte {off}")
        return None
    if any(view[off + HEADER.size :]):
        raise LogCorruptError(f"{name}: damaged record at byte {off} with data after it")
    return (off, off + len(rest))


class CommitLog:
    """The log file: `open` recovers it, `append` makes one record durable, `reset`
    empties it once its records are safe elsewhere. One thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.end = 0  # offset of the next record
        self.size = 0  # bytes in the file (records, then zeros)
        self.torn: tuple[int, int] | None = None

    def open(self) -> list[bytes]:
        """The payloads of the intact records; raises LogCorruptError."""
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if created:
                fsync_dir(self.path.parent)
            size = os.fstat(fd).st_size
            with open(fd, "rb", closefd=False) as f:
                found = scan(f.read(), str(self.path))
            if found.torn is not None:
                start, stop = found.torn
                os.pwrite(fd, bytes(stop - start), start)
                os.fdatasync(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd, self.end, self.size, self.torn = fd, found.end, size, found.torn
        return found.payloads

    def append(self, payload: bytes) -> float:
        """Write one record and fdatasync it; the seconds the fdatasync took (etcd's
        WAL fsync metric). On failure the log is as before."""
        assert self.fd is not None
        record = frame(payload)
        stop = self.end + len(record)
        try:
            if stop > self.size:
                self._grow(stop)
            _pwrite_all(self.fd, record, self.end)
            started = time.perf_counter()
            os.fdatasync(self.fd)
            synced = time.perf_counter() - started
        except OSError:
            # It may have reached the page cache: make sure no later read revives it.
            with contextlib.suppress(OSError):
                _pwrite_all(self.fd, bytes(max(0, min(stop, self.size) - self.end)), self.end)
            raise
        self.end = stop
        return synced

    def _grow(self, needed: int) -> None:
        assert self.fd is not None
        while self.size < needed:
            written = os.pwrite(self.fd, _ZEROS, self.size)
            self.size += written

    def reset(self) -> None:
        """Drop every record (their content is durable elsewhere)."""
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.fsync(self.fd)
        self.end = self.size = 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n
