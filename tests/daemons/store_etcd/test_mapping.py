"""The pure parts of the etcd backend: planning writes, the value layout, turning one
revision's v3 events into a v2 event, the sparse history and the replica."""

from __future__ import annotations

from typing import Any

import pytest

from corral.etcd_errors import (
    DIR_NOT_EMPTY,
    EVENT_INDEX_CLEARED,
    NODE_EXIST,
    NOT_DIR,
    TEST_FAILED,
    EtcdError,
)
from corral.store.etcdv3.feed import revision_event
from corral.store.etcdv3.layout import (
    OP_KEY,
    Kv,
    b64,
    decode_kv,
    encode_op,
    encode_value,
    v3_key,
)
from corral.store.etcdv3.plan import NEW_LEASE, View, plan_write
from corral.store.etcdv3.replica import Replica
from corral.store.etcdv3.sparse_history import SparseHistory
from corral.store.event import Event
from corral.store.keys_request import KeysRequest
from corral.store.node import NS

NOW = 1_700_000_000 * NS


def kv(path: str, value: str = "v", is_dir: bool = False, rev: int = 3, **kw: Any) -> Kv:
    fields = dict(
        path=path, is_dir=is_dir, value="" if is_dir else value, expire_ns=0, write_id="w",
        created=rev, mod_revision=rev, modified_override=0, lease=0,
    )  # fmt: skip
    fields.update(kw)
    return Kv(**fields)  # type: ignore[arg-type]


def view(revision: int = 10, target: Kv | None = None, **ancestors: Kv | None) -> View:
    above = {"/" + k.replace("_", "/"): v for k, v in ancestors.items()}
    return View(revision, above, target, False, 0)


def test_a_set_under_missing_directories_creates_them_in_the_same_transaction() -> None:
    plan = plan_write(KeysRequest("PUT", "/a/b/c", value="x"), view(a=None, a_b=None), NOW)
    assert [(p.path, p.is_dir) for p in plan.puts] == [
        ("/a", True),
        ("/a/b", True),
        ("/a/b/c", False),
    ]
    # nothing it read may change before it commits: every key, absent ones at revision 0
    compared = {(c["key"], c["mod_revision"]) for c in plan.compares}
    assert compared == {(b64(v3_key(p)), "0") for p in ("/a", "/a/b", "/a/b/c")}
    assert plan.node == {"key": "/a/b/c", "value": "x"} and plan.prev is None


def test_a_set_over_a_file_is_a_new_node_and_drops_the_old_lease() -> None:
    old = kv("/k", "old", expire_ns=NOW + 5 * NS, lease=77)
    plan = plan_write(KeysRequest("PUT", "/k", value="new"), view(target=old), NOW)
    assert plan.prev == {
        "key": "/k", "value": "old", "expiration": "2023-11-14T22:13:25Z", "ttl": 5,
        "modifiedIndex": 3, "createdIndex": 3,
    }  # fmt: skip
    assert plan.puts[-1].created == "m"  # createdIndex is this write's revision
    assert plan.revoke == 77 and plan.ttl is None


def test_refusals_carry_etcds_code_cause_and_the_index_read() -> None:
    put = KeysRequest
    cases = [
        (put("PUT", "/k", value="x", prev_exist=False), view(target=kv("/k")), NODE_EXIST, "/k"),
        (put("PUT", "/f/x", value="x"), view(f=kv("/f")), NOT_DIR, "/f"),
        (put("PUT", "/k", value="x", prev_value="a"), view(target=kv("/k", "b")), TEST_FAILED,
         "[a != b]"),
        (put("PUT", "/k", value="x", prev_index=2), view(target=kv("/k")), TEST_FAILED,
         "[2 != 3]"),
    ]  # fmt: skip
    for request, seen, code, cause in cases:
        with pytest.raises(EtcdError) as refused:
            plan_write(request, seen, NOW)
        assert (refused.value.code, refused.value.cause, refused.value.index) == (code, cause, 10)


def test_a_key_without_ttl_in_a_ttl_directory_joins_its_lease() -> None:
    d = kv("/d", is_dir=True, expire_ns=NOW + 9 * NS, lease=42)
    plan = plan_write(KeysRequest("PUT", "/d/k", value="x"), view(d=d), NOW)
    assert plan.puts[-1].lease == 42 and plan.ttl is None
    own = plan_write(KeysRequest("PUT", "/d/k", value="x", ttl=3), view(d=d), NOW)
    assert own.puts[-1].lease == NEW_LEASE and own.ttl == 3
    assert own.node["ttl"] == 3


def test_deleting_a_directory_checks_it_is_still_empty_at_commit() -> None:
    d = kv("/d", is_dir=True)
    seen = View(10, {}, d, True, 0)
    with pytest.raises(EtcdError) as refused:
        plan_write(KeysRequest("DELETE", "/d", dir=True), seen, NOW)
    assert refused.value.code == DIR_NOT_EMPTY
    plan = plan_write(KeysRequest("DELETE", "/d", dir=True), View(10, {}, d, False, 0), NOW)
    emptiness = [c for c in plan.compares if c.get("range_end")]
    assert (
        emptiness and emptiness[0]["target"] == "CREATE" and emptiness[0]["create_revision"] == "11"
    )


def test_values_and_indexes_survive_the_layout() -> None:
    raw = encode_value(False, "héllo\nworld", NOW, "abc", "m", 0)
    got = decode_kv({"key": b64(v3_key("/k")), "value": b64(raw), "create_revision": "4",
                     "mod_revision": "9", "lease": "5"})  # fmt: skip
    assert (got.path, got.value, got.expire_ns, got.created, got.modified, got.lease) == (
        "/k",
        "héllo\nworld",
        NOW,
        9,
        9,
        5,
    )


def _put(path: str, value: str, rev: int, prev: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"kv": {"key": b64(v3_key(path)), "mod_revision": str(rev),
                                "create_revision": "2",
                                "value": b64(encode_value(False, value, 0, "w"))}}  # fmt: skip
    if prev is not None:
        e["prev_kv"] = {"key": b64(v3_key(path)), "mod_revision": "2", "create_revision": "2",
                        "value": b64(encode_value(False, prev, 0, "w"))}  # fmt: skip
    return e


def test_a_revision_with_an_op_record_is_that_write_with_its_values() -> None:
    op = encode_op("set", {"key": "/k", "value": "new"}, {"key": "/k", "value": "old"}, 0,
                   False, "w1")  # fmt: skip
    record = {"kv": {"key": b64(OP_KEY), "mod_revision": "7", "value": b64(op)}}
    e = revision_event(7, [_put("/k", "new", 7, prev="old"), record])
    assert e is not None
    assert e.to_dict() == {
        "action": "set",
        "node": {"key": "/k", "value": "new", "modifiedIndex": 7, "createdIndex": 7},
        "prevNode": {"key": "/k", "value": "old"},
    }


def test_a_revision_that_only_deletes_is_an_expiry_of_its_topmost_key() -> None:
    def gone(path: str, is_dir: bool) -> dict[str, Any]:
        prev = encode_value(is_dir, "" if is_dir else "v", NOW, "w")
        return {"type": "DELETE", "kv": {"key": b64(v3_key(path)), "mod_revision": "8"},
                "prev_kv": {"key": b64(v3_key(path)), "value": b64(prev), "lease": "3",
                            "create_revision": "5", "mod_revision": "5"}}  # fmt: skip

    e = revision_event(8, [gone("/d/k", False), gone("/d", True)])
    assert e is not None and e.action == "expire" and e.removes_dir
    assert e.node == {"key": "/d", "dir": True, "modifiedIndex": 8, "createdIndex": 5}


def test_the_history_skips_revisions_that_are_not_corrals() -> None:
    h = SparseHistory(floor=5)
    for index in (5, 9, 12):
        h.add(Event("set", {"key": f"/k{index}", "modifiedIndex": index}))
    found = h.scan("/", True, 6)
    assert found is not None and found.index == 9
    assert h.scan("/", True, 13) is None
    with pytest.raises(EtcdError) as cleared:
        h.scan("/", True, 4)
    assert cleared.value.code == EVENT_INDEX_CLEARED


def test_the_replica_follows_puts_and_deletes() -> None:
    r = Replica()
    r.load([kv("/d", is_dir=True), kv("/d/a")], 3, 3, 0)
    r.apply(4, [_put("/d/b", "x", 4)], None)
    assert sorted(k.path for k in r.descendants("/d", False)) == ["/d/a", "/d/b"]
    r.apply(5, [{"type": "DELETE", "kv": {"key": b64(v3_key("/d/a"))}}], None)
    assert [k.path for k in r.descendants("/", True)] == ["/d", "/d/b"]
    assert r.revision == 5 and r.view(KeysRequest("PUT", "/d/b")).target is not None


def test_a_value_not_written_by_a_gateway_reads_as_a_plain_file() -> None:
    got = decode_kv({"key": b64(v3_key("/by-hand")), "value": b64(b"just text"),
                     "create_revision": "4", "mod_revision": "6"})  # fmt: skip
    assert (got.is_dir, got.value, got.expire_ns, got.created, got.modified) == (
        False,
        "just text",
        0,
        4,
        6,
    )
