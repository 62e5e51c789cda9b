"""TTLs in the pure store: expiry events take an index, refresh and update rules."""

from __future__ import annotations

import pytest

from corral.etcd_errors import EtcdError
from corral.store.keys_request import KeysRequest, apply_write
from corral.store.store import Store

from .clock import NS, T0, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Store:
    return Store(clock)


def test_ttl_is_rendered_with_expiration_and_rounded_up(store: Store, clock: FakeClock) -> None:
    store.set("/k", value="v", expire_ns=T0 + 10 * NS)
    clock.advance(2.5)
    node = store.get("/k").to_dict()["node"]
    assert node["ttl"] == 8  # 7.5 s left, rounded up as etcd does
    assert node["expiration"] == "2027-01-15T08:00:10Z"


def test_expiry_removes_the_key_with_an_event_that_takes_an_index(
    store: Store, clock: FakeClock
) -> None:
    store.set("/k", value="v", expire_ns=T0 + 5 * NS)
    store.set("/other", value="x")
    assert store.expire() == []
    clock.advance(5)
    (e,) = store.expire()
    assert e.to_dict() == {
        "action": "expire",
        "node": {"key": "/k", "modifiedIndex": 3, "createdIndex": 1},
        "prevNode": {
            "key": "/k",
            "value": "v",
            "expiration": "2027-01-15T08:00:05Z",
            "modifiedIndex": 1,
            "createdIndex": 1,
        },
    }
    assert store.index == 3
    with pytest.raises(EtcdError) as info:
        store.get("/k")
    assert info.value.code == 100
    assert store.stats["expireCount"] == 1


def test_directory_ttl_expires_the_whole_subtree(store: Store, clock: FakeClock) -> None:
    store.create("/d", is_dir=True, expire_ns=T0 + NS)
    store.set("/d/a/b", value="v")
    clock.advance(1)
    (e,) = store.expire()
    assert e.node == {"key": "/d", "dir": True, "modifiedIndex": 3, "createdIndex": 1}
    assert "/d/a/b" not in store.nodes and "/d/a" not in store.nodes


def test_update_without_ttl_makes_a_key_permanent(store: Store, clock: FakeClock) -> None:
    store.set("/k", value="v", expire_ns=T0 + NS)
    store.update("/k", "w")
    clock.advance(10)
    assert store.expire() == []
    assert "ttl" not in store.get("/k").to_dict()["node"]


def test_refresh_keeps_value_and_extends_ttl(store: Store, clock: FakeClock) -> None:
    store.set("/k", value="v", expire_ns=T0 + 2 * NS)
    r = KeysRequest("PUT", "/k", ttl=10, prev_exist=True, refresh=True)
    e = apply_write(store, r)
    assert e.refresh and e.action == "update"
    assert e.node["value"] == "v" and e.node["ttl"] == 10
    clock.advance(5)
    assert store.expire() == []
    clock.advance(5)
    assert [x.action for x in store.expire()] == ["expire"]


def test_refresh_of_a_missing_key_is_key_not_found(store: Store) -> None:
    with pytest.raises(EtcdError) as info:
        apply_write(store, KeysRequest("PUT", "/nope", ttl=5, refresh=True))
    assert (info.value.code, info.value.cause) == (100, "/nope")


def test_updating_a_directory_ttl_keeps_its_modified_index(store: Store) -> None:
    store.create("/d", is_dir=True, expire_ns=T0 + NS)
    e = store.update("/d", "", expire_ns=T0 + 100 * NS)
    assert e.node["dir"] is True and e.node["modifiedIndex"] == 2
    assert store.get("/d").to_dict()["node"]["modifiedIndex"] == 1


def test_many_refreshes_keep_the_expiry_heap_bounded(store: Store) -> None:
    store.set("/k", value="v", expire_ns=T0 + NS)
    for i in range(10_000):
        store.update("/k", "v", expire_ns=T0 + (i + 2) * NS)
    assert len(store.expiry) < 4096
