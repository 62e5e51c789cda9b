"""The mirror's fan-out and re-reads, with plain calls (no store, no threads)."""

from __future__ import annotations

from corral.fleet.mirror import Event, Mirror


def _drain(q: object) -> list[Event]:
    out = []
    while not q.empty():  # type: ignore[attr-defined]
        out.append(q.get_nowait())  # type: ignore[attr-defined]
    return out


def test_a_late_subscriber_starts_from_the_tree_as_held_then_follows() -> None:
    m = Mirror("http://127.0.0.1:9")
    m._resync({"/_corral/units/a": "1"})
    m._emit(Event("set", key="/_corral/units/b", value="2"))
    late = m.subscribe()
    m._emit(Event("delete", key="/_corral/units/a"))
    first, second = _drain(late)
    assert first.kind == "reset" and first.snapshot == {
        "/_corral/units/a": "1",
        "/_corral/units/b": "2",
    }
    assert (second.kind, second.key) == ("delete", "/_corral/units/a")
    assert [e.kind for e in _drain(m.events)] == ["reset", "set", "delete"]
    m.unsubscribe(late)
    m._emit(Event("set", key="/_corral/units/c", value="3"))
    assert _drain(late) == []


def test_a_re_read_after_lost_history_queues_only_the_differences() -> None:
    m = Mirror("http://127.0.0.1:9")
    m._resync({"/k/same": "1", "/k/changed": "old", "/k/gone": "x"})
    _drain(m.events)
    m._resync({"/k/same": "1", "/k/changed": "new", "/k/added": "y"})
    assert [(e.kind, e.key, e.value) for e in _drain(m.events)] == [
        ("delete", "/k/gone", None),
        ("set", "/k/changed", "new"),
        ("set", "/k/added", "y"),
    ]
