"""Writes arriving together share one etcd transaction (one revision), yet each keeps
a v2 index of its own: unique, increasing, the same through every gateway and after
a restart; watchers see each write once, in index order. The data's format is
recorded in etcd: a newer one is refused, format 1's (no marker) is served as is."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corral.client import Client
from corral.formats import FormatError
from corral.store.etcdv3.batch import pending, take
from corral.store.etcdv3.feed import op_delta, revision_events, revision_ops
from corral.store.etcdv3.format import check_format
from corral.store.etcdv3.layout import (
    Kv,
    b64,
    decode_kv,
    encode_op,
    encode_value,
    op_key,
    v3_key,
)
from corral.store.etcdv3.plan import View, plan_write
from corral.store.etcdv3.sizes import MAX_BATCH
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.store.keys_request import KeysRequest
from corral.testing import EtcdServer

from . import etcd_v3

NOW = 1_700_000_000 * 10**9


def _dir(path: str) -> Kv:
    return Kv(path, True, "", 0, "w", 2, 2, 0, 0)


def _planned(path: str, value: str = "v", method: str = "PUT", **kw: Any) -> Any:
    parent = path.rsplit("/", 1)[0]
    view = View(10, {parent: _dir(parent)} if parent else {}, None, False, 0)
    return pending(plan_write(KeysRequest(method, path, value, **kw), view, NOW), "w", 0)


# -- pure ----------------------------------------------------------------------------


def test_writes_to_distinct_keys_share_a_batch_until_one_touches_an_earlier_ones() -> None:
    queue = [_planned("/d/a"), _planned("/d/b"), _planned("/d/c"), _planned("/d/a"),
             _planned("/d/e")]  # fmt: skip
    assert take(queue, 1 << 20) == 3  # the second write to /d/a waits: v2 order kept
    # a directory's deletion and a write under it never share one
    rmdir = pending(
        plan_write(KeysRequest("DELETE", "/d", recursive=True),
                   View(10, {}, _dir("/d"), True, 0), NOW), "w", 0,
    )  # fmt: skip
    assert take([_planned("/e/x"), rmdir, _planned("/d/y")], 1 << 20) == 2


def test_an_in_order_key_only_opens_a_batch_as_its_name_is_its_index() -> None:
    post = _planned("/q", method="POST")
    assert take([_planned("/d/a"), post, _planned("/d/b")], 1 << 20) == 1
    assert take([post, _planned("/d/a"), _planned("/d/b")], 1 << 20) == 3
    assert post.plan.node["key"] == f"/q/{11:020d}"  # the view's index + 1


def test_a_batch_is_bounded_by_its_writes_and_bytes() -> None:
    queue = [_planned(f"/d/k{i}") for i in range(MAX_BATCH + 5)]
    assert take(queue, 1 << 30) == MAX_BATCH
    big = [_planned(f"/d/k{i}", "x" * 1000) for i in range(10)]
    assert take(big, 3 * big[0].size) == 3
    assert take(big, 1) == 1  # a write alone goes, whatever its size (etcd judges it)


def _put(path: str, value: str, rev: int, delta: int) -> dict[str, Any]:
    raw = encode_value(False, value, 0, "w", "", 0, delta)
    return {"kv": {"key": b64(v3_key(path)), "mod_revision": str(rev),
                   "create_revision": str(rev), "value": b64(raw)}}  # fmt: skip


def _op(position: int, path: str, rev: int, delta: int) -> dict[str, Any]:
    op = encode_op("set", {"key": path, "value": ""}, None, 0, False, "w", delta)
    return {"kv": {"key": b64(op_key(position)), "mod_revision": str(rev), "value": b64(op)}}


def test_the_writes_of_one_revision_are_events_in_position_order_with_their_own_indexes() -> None:
    events = [_put("/a", "1", 7, 4), _op(0, "/a", 7, 4), _put("/b", "2", 7, 5),
              _op(1, "/b", 7, 5)]  # fmt: skip
    ops = revision_ops(7, events)
    found = revision_events(7, events, ops, 4)
    assert [(e.node["key"], e.node["value"], e.index, e.node["createdIndex"]) for e in found] == [
        ("/a", "1", 11, 11),
        ("/b", "2", 12, 12),
    ]
    assert op_delta(ops, 4) == 5
    # a later revision without op records (an expiry) takes the next index
    gone = {"type": "DELETE", "kv": {"key": b64(v3_key("/b")), "mod_revision": "8"},
            "prev_kv": _put("/b", "2", 7, 5)["kv"]}  # fmt: skip
    (expired,) = revision_events(8, [gone], [], 5)
    assert expired.action == "expire" and expired.index == 13
    assert expired.prev_node is not None and expired.prev_node["modifiedIndex"] == 12


def test_a_value_carries_its_index_delta_and_a_format_1_value_reads_with_none() -> None:
    got = decode_kv(_put("/a", "1", 7, 5)["kv"])
    assert (got.modified, got.created, got.value) == (12, 12, "1")
    old = b"f0\nw\n 0\nhello"  # format 1: no delta
    got = decode_kv({"key": b64(v3_key("/o")), "value": b64(old), "mod_revision": "9",
                     "create_revision": "3"})  # fmt: skip
    assert (got.modified, got.created, got.value) == (9, 3, "hello")


def test_a_marker_naming_an_unknown_format_is_refused_with_what_to_do() -> None:
    check_format(b"2", "http://e:1")
    with pytest.raises(FormatError, match=r"format 3; this corral-store .* upgrade corral-store"):
        check_format(b"3", "http://e:1")
    with pytest.raises(FormatError, match="not a Corral data format"):
        check_format(b"junk", "http://e:1")


# -- over a real etcd ----------------------------------------------------------------

WRITERS = 32
WRITES_EACH = 15


def _revision(member: EtcdServer) -> int:
    answer = etcd_v3.call(member, "/v3/kv/range", {"key": b64(b"/corral/format")})
    return int(answer["header"]["revision"])


@pytest.fixture
def etcd(tmp_path: Path) -> Any:
    member = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    yield member
    member.stop()


@pytest.mark.timeout(120)
def test_concurrent_writes_share_revisions_and_keep_unique_stable_indexes(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    g = gateway(tmp_path / "gw", [etcd]).start()
    try:
        first = Client(g.url).set("/b/start", "0").node.modified_index
        before = _revision(etcd)
        seen: list[int] = []
        watching = threading.Thread(target=_watch, args=(g.url, first + 1, seen), daemon=True)
        watching.start()
        acked: dict[str, int] = {}

        def write(n: int) -> None:
            c = Client(g.url)
            for i in range(WRITES_EACH):
                acked[f"/b/w{n}-{i}"] = c.set(f"/b/w{n}-{i}", str(i)).node.modified_index

        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = WRITERS * WRITES_EACH
        # fewer revisions than writes: they were batched
        assert _revision(etcd) - before < total
        indexes = sorted(acked.values())
        assert len(set(indexes)) == total and indexes[0] > first
        watching.join(30)
        assert seen == indexes  # each write once, in index order, no gap
        reply = urllib.request.urlopen(g.url + "/v2/keys/b?recursive=true", timeout=10)
        assert int(reply.headers["X-Etcd-Index"]) == indexes[-1]
        nodes = json.load(reply)["node"]["nodes"]
        assert {n["key"]: n["modifiedIndex"] for n in nodes if n["key"] in acked} == acked
        # another gateway, and this one restarted, number them the same
        other = gateway(tmp_path / "gw2", [etcd]).start()
        try:
            got = Client(other.url).get("/b", recursive=True)
            assert {n.key: n.modified_index for n in got.node.nodes} == {
                **acked,
                "/b/start": first,
            }
        finally:
            other.stop()
        g.restart()
        again = Client(g.url).get("/b/w3-4").node
        assert (again.modified_index, again.created_index) == (acked["/b/w3-4"],) * 2
        nxt = Client(g.url).set("/b/after", "x").node.modified_index
        assert nxt == indexes[-1] + 1  # a lone write takes the next index
    finally:
        g.stop()


def _watch(url: str, index: int, seen: list[int]) -> None:
    c = Client(url, timeout=30)
    while len(seen) < WRITERS * WRITES_EACH:
        e = c.watch("/b", index=index, recursive=True, timeout=20)
        seen.append(e.node.modified_index)
        index = e.node.modified_index + 1


def _start_refused(etcd: EtcdServer, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "corral.store", "--listen-client-urls", "http://127.0.0.1:0",
         "--backend", "etcd", "--etcd-endpoints", etcd.url],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    return done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_a_newer_format_in_etcd_is_refused_and_format_1_data_is_served_as_it_is(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    # what a gateway of format 1 left: a value without index delta, one op record
    old = etcd_v3.put(etcd, b"/corral/keys/old", b"f0\nw1\n 0\nkept")
    op = {"a": "set", "n": {"key": "/old", "value": ""}, "p": None, "c": 0, "r": False,
          "w": "w1"}  # fmt: skip
    etcd_v3.put(etcd, b"/corral/op", json.dumps(op))
    g = gateway(tmp_path / "gw", [etcd]).start()
    try:
        node = Client(g.url).get("/old").node
        assert (node.value, node.modified_index) == ("kept", old)
        assert Client(g.url).set("/new", "x").node.modified_index > old + 1
    finally:
        g.stop()
    assert etcd_v3.get(etcd, b"/corral/format") == b"2"
    etcd_v3.put(etcd, b"/corral/format", b"3")
    log = _start_refused(etcd, tmp_path)
    assert "holds Corral data format 3" in log and "upgrade corral-store" in log
    assert "Traceback" not in log
