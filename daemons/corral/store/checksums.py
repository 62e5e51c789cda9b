"""Checksums of the SQLite snapshot's rows, so damage is refused instead of served.

SQLite notices a damaged page structure, not a changed byte inside a row: a value
whose bit rotted would be read back and served as if it had been written. Each row
of `nodes`, `events` and `meta` therefore carries the CRC-32 of its fields, written
with the row and checked when the snapshot is read on start. A row with no checksum
(NULL) was written before checksums existed and is taken as it is.

Pure functions over a canonical text of the fields: no I/O.
"""

from __future__ import annotations

import zlib

from corral.store.store import Row


def _crc(*fields: object) -> int:
    text = "\0".join(str(f) for f in fields)
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def node_crc(row: Row) -> int:
    """Checked for every key on start: written out rather than through `_crc`."""
    path, value, is_dir, created, modified, expire = row
    text = f"{path}\0{value}\0{int(is_dir)}\0{created}\0{modified}\0{expire}"
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def event_crc(index: int, refresh: int, body: str) -> int:
    return _crc(index, refresh, body)


def meta_crc(name: str, value: int) -> int:
    return _crc(name, value)


def intact(stored: int | None, computed: int) -> bool:
    return stored is None or stored == computed
