"""The pure store: every action's event and every error, as etcd renders them."""

from __future__ import annotations

import json
import posixpath

import pytest

from corral.etcd_errors import EtcdError
from corral.store.store import Store, clean_path

from .clock import FakeClock


@pytest.fixture
def store() -> Store:
    return Store(FakeClock())


def error_of(fn, *args, **kwargs) -> tuple[int, str, int]:
    with pytest.raises(EtcdError) as info:
        fn(*args, **kwargs)
    e = info.value
    return e.code, e.cause, e.index


def test_set_then_get_renders_node_and_index(store: Store) -> None:
    e = store.set("/foo", value="bar")
    assert e.to_dict() == {
        "action": "set",
        "node": {"key": "/foo", "value": "bar", "modifiedIndex": 1, "createdIndex": 1},
    }
    assert e.created and e.etcd_index == 1
    got = store.get("/foo")
    assert got.to_dict()["node"] == {
        "key": "/foo", "value": "bar", "modifiedIndex": 1, "createdIndex": 1,
    }  # fmt: skip
    assert got.etcd_index == 1


def test_set_over_a_key_replaces_it_and_returns_prev_node(store: Store) -> None:
    store.set("/foo", value="one")
    e = store.set("/foo", value="two")
    assert e.to_dict() == {
        "action": "set",
        "node": {"key": "/foo", "value": "two", "modifiedIndex": 2, "createdIndex": 2},
        "prevNode": {"key": "/foo", "value": "one", "modifiedIndex": 1, "createdIndex": 1},
    }
    assert not e.created


def test_implicit_directories_and_recursive_sorted_get(store: Store) -> None:
    store.set("/a/b/c", value="1")
    store.set("/a/a", value="2")
    store.set("/a/_hidden", value="3")
    listing = store.get("/a", recursive=True, sort=True).to_dict()["node"]
    assert listing == {
        "key": "/a",
        "dir": True,
        "nodes": [
            {"key": "/a/a", "value": "2", "modifiedIndex": 2, "createdIndex": 2},
            {
                "key": "/a/b",
                "dir": True,
                "nodes": [{"key": "/a/b/c", "value": "1", "modifiedIndex": 1, "createdIndex": 1}],
                "modifiedIndex": 1,
                "createdIndex": 1,
            },
        ],
        "modifiedIndex": 1,
        "createdIndex": 1,
    }
    one_level = store.get("/a", sort=True).to_dict()["node"]["nodes"]
    assert one_level[1] == {"key": "/a/b", "dir": True, "modifiedIndex": 1, "createdIndex": 1}
    assert store.get("/a/_hidden").to_dict()["node"]["value"] == "3"


def test_root_listing_has_no_key_and_empty_dir_has_no_nodes(store: Store) -> None:
    assert store.get("/").to_dict() == {"action": "get", "node": {"dir": True}}
    store.create("/d", is_dir=True)
    assert store.get("/d").to_dict()["node"] == {
        "key": "/d", "dir": True, "modifiedIndex": 1, "createdIndex": 1,
    }  # fmt: skip


def test_create_and_its_errors(store: Store) -> None:
    assert store.create("/k", value="v").action == "create"
    assert error_of(store.create, "/k", value="w") == (105, "/k", 1)
    assert error_of(store.create, "/k/x", value="w") == (104, "/k", 1)
    assert error_of(store.create, "/", value="w") == (107, "/", 1)


def test_in_order_keys_are_named_by_zero_padded_index(store: Store) -> None:
    store.set("/other", value="x")
    e1 = store.create("/queue", value="a", unique=True)
    e2 = store.create("/queue", value="b", unique=True)
    assert e1.key == "/queue/00000000000000000002"
    assert e2.key == "/queue/00000000000000000003"
    assert [n["value"] for n in store.get("/queue", sort=True).to_dict()["node"]["nodes"]] == [
        "a", "b",
    ]  # fmt: skip


def test_update_needs_an_existing_key_and_keeps_created_index(store: Store) -> None:
    assert error_of(store.update, "/k", "v") == (100, "/k", 0)
    store.set("/k", value="v1")
    e = store.update("/k", "v2")
    assert e.to_dict() == {
        "action": "update",
        "node": {"key": "/k", "value": "v2", "modifiedIndex": 2, "createdIndex": 1},
        "prevNode": {"key": "/k", "value": "v1", "modifiedIndex": 1, "createdIndex": 1},
    }
    store.create("/d", is_dir=True)
    assert error_of(store.update, "/d", "value") == (102, "/d", 3)
    assert error_of(store.update, "/", "") == (107, "/", 3)


def test_compare_and_swap(store: Store) -> None:
    store.set("/k", value="one")
    assert error_of(store.compare_and_swap, "/k", "two", 0, "x") == (101, "[two != one]", 1)
    assert error_of(store.compare_and_swap, "/k", "", 7, "x") == (101, "[7 != 1]", 1)
    assert error_of(store.compare_and_swap, "/k", "two", 7, "x") == (
        101, "[two != one] [7 != 1]", 1,
    )  # fmt: skip
    e = store.compare_and_swap("/k", "one", 1, "three")
    assert e.action == "compareAndSwap"
    assert e.to_dict()["node"] == {
        "key": "/k",
        "value": "three",
        "modifiedIndex": 2,
        "createdIndex": 1,
    }
    assert error_of(store.compare_and_swap, "/missing", "a", 0, "b") == (100, "/missing", 2)
    store.create("/d", is_dir=True)
    assert error_of(store.compare_and_swap, "/d", "a", 0, "b") == (102, "/d", 3)


def test_delete_files_and_directories(store: Store) -> None:
    store.set("/d/k", value="v")
    assert error_of(store.delete, "/d") == (102, "/d", 1)
    assert error_of(store.delete, "/d", is_dir=True) == (108, "/d", 1)
    assert error_of(store.delete, "/") == (107, "/", 1)
    assert error_of(store.delete, "/nope") == (100, "/nope", 1)
    e = store.delete("/d", recursive=True)
    assert e.to_dict() == {
        "action": "delete",
        "node": {"key": "/d", "dir": True, "modifiedIndex": 2, "createdIndex": 1},
        "prevNode": {"key": "/d", "dir": True, "modifiedIndex": 1, "createdIndex": 1},
    }
    assert error_of(store.get, "/d/k") == (100, "/d", 2)
    store.set("/f", value="v")
    assert store.delete("/f").to_dict()["node"] == {
        "key": "/f", "modifiedIndex": 4, "createdIndex": 3,
    }  # fmt: skip


def test_compare_and_delete(store: Store) -> None:
    store.set("/k", value="one")
    assert error_of(store.compare_and_delete, "/k", "two", 0) == (101, "[two != one]", 1)
    e = store.compare_and_delete("/k", "one", 1)
    assert e.to_dict() == {
        "action": "compareAndDelete",
        "node": {"key": "/k", "modifiedIndex": 2, "createdIndex": 1},
        "prevNode": {"key": "/k", "value": "one", "modifiedIndex": 1, "createdIndex": 1},
    }
    assert error_of(store.compare_and_delete, "/", "x", 0) == (102, "/", 2)


def test_not_a_directory_when_walking_through_a_file(store: Store) -> None:
    store.set("/f", value="v")
    assert error_of(store.get, "/f/g") == (104, "/f", 1)
    assert error_of(store.set, "/f/g", value="x") == (104, "/f", 1)


def test_set_dir_over_a_directory_is_not_a_file(store: Store) -> None:
    store.create("/d", is_dir=True)
    assert error_of(store.set, "/d", is_dir=True) == (102, "/d", 1)
    assert error_of(store.set, "/d", value="v") == (102, "/d", 1)


def test_failed_writes_take_no_index_and_stats_count(store: Store) -> None:
    store.set("/k", value="v")
    with pytest.raises(EtcdError):
        store.create("/k", value="v")
    assert store.index == 1
    assert store.stats["setsSuccess"] == 1 and store.stats["createFail"] == 1


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("", "/"),
        ("foo", "/foo"),
        ("/a//b/", "/a/b"),
        ("/a/../b", "/b"),
        ("//x", "/x"),
        ("/..", "/"),
    ],
)
def test_paths_are_cleaned_as_etcd_does(raw: str, clean: str) -> None:
    assert clean_path(raw) == clean


def test_a_get_answer_follows_every_change_of_its_key(store: Store) -> None:
    """GET answers of permanent keys are rendered once and reused until the key changes."""

    def body() -> dict:
        return json.loads(store.get("/k").to_json())["node"]

    store.set("/k", value="one")
    assert body()["value"] == "one" and body()["value"] == "one"
    store.update("/k", "two", None)
    assert body() == {"key": "/k", "value": "two", "modifiedIndex": 2, "createdIndex": 1}
    store.compare_and_swap("/k", "two", 0, "three", None)
    assert body()["value"] == "three"
    store.update("/k", "", store.clock() + 10 * 10**9, refresh=True)  # now with a TTL
    assert body()["ttl"] == 10
    store.update("/k", "four", None)  # permanent again
    assert "ttl" not in body() and body()["value"] == "four"
    store.delete("/k")
    store.set("/k", value="five")
    assert body()["value"] == "five" and body()["createdIndex"] == 7


@pytest.mark.parametrize(
    "raw", ["/a/b", "a/b", "/a//b", "/a/./b", "/a/../b", "/a/b/", "/.hidden", "//", "", "/a/.b/"]
)
def test_clean_path_matches_posix_normalisation(raw: str) -> None:
    expected = posixpath.normpath("/" + raw)
    expected = "/" + expected.lstrip("/")
    assert clean_path(raw) == expected
