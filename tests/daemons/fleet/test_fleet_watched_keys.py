"""WatchedKeys' fan-out of its scopes, and a follower's re-reads and deletes, with
plain calls (no store, no threads)."""

from __future__ import annotations

from corral.client import KeyNode
from corral.fleet.watched_keys import CopyChange, WatchedKeys
from corral.follow import Follower


def _drain(q: object) -> list[CopyChange]:
    out = []
    while not q.empty():  # type: ignore[attr-defined]
        out.append(q.get_nowait())  # type: ignore[attr-defined]
    return out


def _follower(root: str, got: list[CopyChange]) -> Follower:
    return Follower(lambda: None, root, got.append)  # type: ignore[arg-type,return-value]


def test_the_first_reset_waits_for_every_scope_then_a_late_subscriber_starts_from_it() -> None:
    m = WatchedKeys("http://127.0.0.1:9", ["/_corral/units", "/_corral/machines/m1"])
    m.deliver("/_corral/units", CopyChange("reset", snapshot={"/_corral/units/a": "1"}))
    m.deliver("/_corral/units", CopyChange("set", key="/_corral/units/b", value="2"))
    assert _drain(m.events) == []  # one scope not read yet: nothing to act on
    m.deliver("/_corral/machines/m1", CopyChange("reset", snapshot={"/_corral/machines/m1": "r"}))
    late = m.subscribe()
    m.deliver("/_corral/units", CopyChange("delete", key="/_corral/units/a"))
    first, second = _drain(late)
    assert first.kind == "reset" and first.snapshot == {
        "/_corral/units/a": "1",
        "/_corral/units/b": "2",
        "/_corral/machines/m1": "r",
    }
    assert (second.kind, second.key) == ("delete", "/_corral/units/a")
    assert [e.kind for e in _drain(m.events)] == ["reset", "delete"]
    m.unsubscribe(late)
    m.deliver("/_corral/units", CopyChange("set", key="/_corral/units/c", value="3"))
    assert _drain(late) == []


def test_a_re_read_after_lost_history_delivers_only_the_differences() -> None:
    got: list[CopyChange] = []
    f = _follower("/k", got)
    f.resync({"/k/same": "1", "/k/changed": "old", "/k/gone": "x"})
    f.resync({"/k/same": "1", "/k/changed": "new", "/k/added": "y"})
    assert [(e.kind, e.key, e.value) for e in got[1:]] == [
        ("delete", "/k/gone", None),
        ("set", "/k/changed", "new"),
        ("set", "/k/added", "y"),
    ]


def test_a_directory_removed_above_the_root_removes_only_what_the_follower_holds() -> None:
    got: list[CopyChange] = []
    f = _follower("/_corral/machines/m1", got)
    f.resync({"/_corral/machines/m1": "r"})
    f.on_change("delete", KeyNode("/_corral", dir=True))
    assert [(e.kind, e.key) for e in got[1:]] == [
        ("delete", "/_corral/machines/m1/"),
        ("delete", "/_corral/machines/m1"),
    ]
    got.clear()
    f.resync({"/_corral/machines/m1": "r"})
    f.on_change("expire", KeyNode("/_corral/machines/m1"))  # the record itself: one delete
    assert [(e.kind, e.key) for e in got] == [
        ("set", "/_corral/machines/m1"),
        ("delete", "/_corral/machines/m1"),
    ]
    units: list[CopyChange] = []
    f = _follower("/_corral/units", units)
    f.resync({"/_corral/units/a": "1", "/_corral/units/d/b": "2"})
    f.on_change("delete", KeyNode("/_corral/units/d", dir=True))
    f.on_change("expire", KeyNode("/_corral/units/a"))
    f.on_change("set", KeyNode("/_corral/units/new", dir=True))  # a directory: no value
    assert [(e.kind, e.key) for e in units[1:]] == [
        ("delete", "/_corral/units/d/"),
        ("delete", "/_corral/units/a"),
    ]
