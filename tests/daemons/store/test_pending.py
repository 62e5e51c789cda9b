"""Which reads may be answered while a batch commits (and which must wait)."""

from __future__ import annotations

from corral.store.pending import PendingPaths
from corral.store.store import Store

from .clock import FakeClock


def pending_after(*writes: str) -> PendingPaths:
    store = Store(FakeClock())
    store.set("/base/old", value="x")
    store.set("/a/b/old", value="x")
    store.take_journal()
    for path in writes:
        store.set(path, value="v")
    return PendingPaths(store.take_journal())


def test_unrelated_paths_need_not_wait() -> None:
    p = pending_after("/a/b/c")
    for path in ("/x", "/base/old", "/a/bb", "/a/b/cc", "/base", "/a/b/old"):
        assert not p.affects(path), path


def test_directories_the_batch_created_are_pending_with_all_below() -> None:
    p = pending_after("/new/dir/key")
    assert p.affects("/new/other") and p.affects("/new/dir/x")


def test_the_key_its_directories_and_anything_below_must_wait() -> None:
    p = pending_after("/a/b/c")
    for path in ("/a/b/c", "/a/b", "/a", "/", "/a/b/c/d"):
        assert p.affects(path), path


def test_a_removed_directory_covers_everything_below_it() -> None:
    store = Store(FakeClock())
    store.set("/d/e/f", value="x")
    store.take_journal()
    store.delete("/d", recursive=True)
    p = PendingPaths(store.take_journal())
    assert p.affects("/d/e/f") and p.affects("/d/e") and p.affects("/")
    assert not p.affects("/dd")
