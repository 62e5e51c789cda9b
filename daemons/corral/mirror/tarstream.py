"""Reading a bundle's tar stream with every byte accounted for before it is decompressed.

tarfile alone trusts the archive: a member's header says how much to read (a PAX
header or a GNU long name of 2 GiB is read into memory, a sparse member expands to
its stated size) and a gzip stream expands as far as it likes. Here the decompressed
stream passes through a `Budget`: the reader may only move `allow`ed bytes past the
last grant, and the importer grants a member's data only after checking the member
against the signed documents. So whatever the archive says, no more is decompressed,
buffered or written than headers (`bundle_limits.MAX_HEADER_BYTES` a member) plus what was
declared, and a bomb is stopped where it begins.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_AHEAD = 4 * tarfile.RECORDSIZE  # tarfile's stream reader buffers ahead of the member
# what a damaged compressed stream raises while being read
_DECOMPRESS_ERRORS = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, OSError)


# a bundle as read: the file itself, or a decompressing reader of it
Source = BinaryIO | io.BufferedIOBase


class OverBudget(Exception):
    """The stream went past what was allowed: the message says how far."""


class Damaged(Exception):
    """The compressed stream cannot be read (truncated, corrupt)."""


class Budget(io.RawIOBase):
    """A reader that refuses to pass on more than was allowed (and `total` overall)."""

    def __init__(self, source: Source, total: int) -> None:
        self.source = source
        self.total = total
        self.position = 0
        self.limit = 0

    def allow(self, count: int) -> None:
        """Let `count` more bytes through past what was read so far (plus read-ahead)."""
        self.limit = max(self.limit, self.position + count + READ_AHEAD)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        # released before returning: RawIOBase.read resizes the bytearray it passes
        with memoryview(buffer) as whole, whole.cast("B") as view:
            size = min(len(view), self.limit - self.position, self.total - self.position)
            if size <= 0:
                if self.position >= self.total:
                    raise OverBudget(f"more than {self.total} bytes once decompressed")
                raise OverBudget(f"more than allowed at byte {self.position}")
            try:
                data = self.source.read(size)
            except _DECOMPRESS_ERRORS as e:
                raise Damaged(f"{type(e).__name__}: {e}") from None
            view[: len(data)] = data
        self.position += len(data)
        return len(data)


def decompressed(raw: BinaryIO) -> Source:
    """The tar bytes of a plain, gzip, bzip2 or xz bundle, decompressed as read."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw
