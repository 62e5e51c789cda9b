"""A damaged SQLite snapshot that holds the tree: the store refuses to start.

SQLite finds damage to its page structure itself; a changed byte inside a row it
would read back as written, which the rows' checksums catch.

The snapshot (store.db) only holds keys once the commit log has been folded into it
(every 16 MiB of log), so the store first writes past a fold. Each damage is then
tried on its own copy of the data directory: the store must exit 1 with the file
named and why, never a traceback, never serve what it read.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from corral.store.disk import LOG_LIMIT
from corral.testing import StoreServer

from .wire import call

PAGE = 4096


def _truncated(data: bytearray) -> None:
    del data[len(data) // 2 :]  # a copy or a restore cut short


def _page_zeroed(data: bytearray) -> None:
    data[10 * PAGE : 11 * PAGE] = bytes(PAGE)  # a lost write of one page


def _page_header_flipped(data: bytearray) -> None:
    data[3 * PAGE] ^= 0xFF  # a bit rot in a B-tree page's type


def _value_byte_flipped(data: bytearray) -> None:
    # a bit rot inside one key's value (in its row and its event): the pages stay
    # valid, so only the rows' checksums can tell
    needle = b"0010" + b"s" * 100
    at = data.find(needle)
    assert at >= 0, "the value is not in the snapshot"
    while at >= 0:
        data[at + 50] = ord("S")
        at = data.find(needle, at + 1)


DAMAGES: list[tuple[Callable[[bytearray], None], str]] = [
    (_truncated, "malformed"),
    (_page_zeroed, "malformed"),
    (_page_header_flipped, "malformed"),
    (_value_byte_flipped, "damaged row of '/s/10' (checksum mismatch)"),
]


def test_a_damaged_snapshot_makes_the_store_refuse_to_start(tmp_path: Path) -> None:
    server = StoreServer(tmp_path / "whole").start()
    try:
        for i in range(LOG_LIMIT // 60_000 + 10):
            value = f"{i:04d}" + "s" * 60_000
            assert call(server.url, "PUT", f"/v2/keys/s/{i}", form={"value": value}).status == 201
    finally:
        server.stop()
    assert (server.data_dir / "store.db").stat().st_size > 8 * LOG_LIMIT // 10  # folded
    for damage, why in DAMAGES:
        data_dir = tmp_path / damage.__name__.strip("_")
        shutil.copytree(server.data_dir, data_dir)
        db = data_dir / "store.db"
        data = bytearray(db.read_bytes())
        damage(data)
        db.write_bytes(bytes(data))
        damaged = StoreServer(data_dir)
        try:
            damaged.start()
        except RuntimeError as exc:
            assert "refusing to start" in str(exc) and str(db) in str(exc), exc
            assert why in str(exc), exc
        else:
            damaged.stop()
            raise AssertionError(f"the store served a snapshot with {damage.__name__}")
        assert damaged.proc is not None and damaged.proc.wait(10) == 1
        assert "Traceback" not in damaged.log_text()
