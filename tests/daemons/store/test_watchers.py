"""The watcher hub and the event history: who is woken, when, and error 401."""

from __future__ import annotations

import pytest

from corral.etcd_errors import EtcdError
from corral.store.event import Event
from corral.store.store import Store
from corral.store.watchers import WatcherHub

from .clock import NS, T0, FakeClock


class Harness:
    """A store whose events are published at once, as a durable backend would."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = Store(self.clock)
        self.hub = WatcherHub()

    def publish(self) -> None:
        for e in self.store.take_events():
            if e.refresh:
                self.hub.add(e)
            else:
                self.hub.notify(e)

    def watch(self, key: str, recursive: bool = False, since: int = 0, stream: bool = False):
        got: list[Event] = []
        since = since or self.store.index + 1
        w, found = self.hub.watch(key, recursive, stream, since, self.store.index, got.append)
        if found is not None:
            got.append(found)
        return w, got


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_write_wakes_a_watcher_on_its_key_once(h: Harness) -> None:
    _, got = h.watch("/k")
    h.store.set("/k", value="1")
    h.store.set("/k", value="2")
    h.publish()
    assert [e.node["value"] for e in got] == ["1"]
    assert h.hub.count == 0


def test_recursive_watch_sees_writes_below_but_not_hidden_ones(h: Harness) -> None:
    _, got = h.watch("/d", recursive=True)
    _, hidden = h.watch("/d/_h")
    h.store.set("/d/_h", value="secret")
    h.publish()
    assert got == [] and len(hidden) == 1
    h.store.set("/d/x/y", value="1")
    h.publish()
    assert [e.key for e in got] == ["/d/x/y"]


def test_plain_watch_ignores_children_but_sees_its_directory_deleted(h: Harness) -> None:
    h.store.set("/d/x", value="1")
    h.publish()
    _, on_dir = h.watch("/d")
    _, on_child = h.watch("/d/x")
    h.store.set("/d/y", value="2")
    h.publish()
    assert on_dir == []
    h.store.delete("/d", recursive=True)
    h.publish()
    assert [e.action for e in on_dir] == ["delete"]
    assert [e.action for e in on_child] == ["delete"]


def test_wait_index_is_served_from_history(h: Harness) -> None:
    h.store.set("/k", value="1")
    h.store.set("/other", value="x")
    h.store.set("/k", value="2")
    h.publish()
    w, got = h.watch("/k", since=2)
    assert w is None
    assert got[0].node["value"] == "2" and got[0].etcd_index == 3


def test_refresh_enters_history_but_wakes_nobody(h: Harness) -> None:
    h.store.set("/k", value="v", expire_ns=T0 + NS)
    h.publish()
    _, got = h.watch("/k")
    h.store.update("/k", "v", expire_ns=T0 + 9 * NS, refresh=True)
    h.publish()
    assert got == []
    assert h.hub.history.last_index == 2
    _, later = h.watch("/k", since=2)
    assert later == []  # a refresh is never what a watch returns


def test_expiry_wakes_watchers(h: Harness) -> None:
    h.store.set("/k", value="v", expire_ns=T0 + NS)
    h.publish()
    _, got = h.watch("/k")
    h.clock.advance(1)
    h.store.expire()
    h.publish()
    assert [e.action for e in got] == ["expire"]


def test_history_keeps_1000_events_then_answers_401(h: Harness) -> None:
    for i in range(1100):
        h.store.set("/k", value=str(i))
    h.publish()
    assert h.hub.history.start_index == 101
    with pytest.raises(EtcdError) as info:
        h.watch("/k", since=100)
    err = info.value
    assert (err.code, err.status, err.index) == (401, 400, 1100)
    assert err.cause == "the requested history has been cleared [101/100]"
    _, got = h.watch("/k", since=101)
    assert got[0].node["value"] == "100"


def test_stream_watcher_stays_and_removed_watcher_gets_nothing(h: Harness) -> None:
    _, streamed = h.watch("/k", stream=True)
    w, got = h.watch("/k")
    assert w is not None
    h.hub.remove(w)
    for v in "abc":
        h.store.set("/k", value=v)
    h.publish()
    assert [e.node["value"] for e in streamed] == ["a", "b", "c"]
    assert got == []
    assert h.hub.count == 1
