"""The normaliser on its own: what it rewrites, and that it keeps everything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .normalise import (
    Ttl,
    describe_difference,
    expiration_verdict,
    normalise_body,
    normalise_reply,
    relative_text,
    shape,
)
from .wire import Reply

NOW = datetime(2026, 11, 26, 20, 0, 0, tzinfo=UTC)


def test_indexes_become_relative_and_zero_stays_zero():
    body = {"errorCode": 100, "message": "Key not found", "cause": "/a", "index": 107}
    assert normalise_body(body, 100, NOW, ordered=False)["index"] == "i+7"
    assert normalise_body({**body, "index": 0}, 100, NOW, ordered=False)["index"] == 0


def test_only_index_shaped_numbers_in_text_are_rewritten():
    assert relative_text("[105 != 103]", 100) == "[i+5 != i+3]"
    assert relative_text("the requested history has been cleared [1101/1]", 1000) == (
        "the requested history has been cleared [i+101/i-999]"
    )
    assert relative_text("Error:  100: Key not found (/k) [104]\n", 100) == (
        "Error:  100: Key not found (/k) [i+4]\n"
    )
    assert relative_text("[one != 104]", 100) == "[one != 104]"  # a value, not an index
    assert relative_text("TTL: 100\nIndex: 103\n", 100) == "TTL: 100\nIndex: i+3\n"


def test_in_order_keys_are_named_relative_to_the_base():
    node = {"key": "/q/00000000000000000105", "value": "v", "modifiedIndex": 105}
    out = normalise_body({"action": "create", "node": node}, 100, NOW, ordered=False)
    assert out["node"]["key"] == "/q/<i+5>"


def test_listings_are_sorted_unless_the_order_is_what_is_compared():
    nodes = [{"key": "/d/b"}, {"key": "/d/a"}]
    body = {"action": "get", "node": {"key": "/d", "dir": True, "nodes": nodes}}
    unordered = normalise_body(body, 1, NOW, ordered=False)["node"]["nodes"]
    ordered = normalise_body(body, 1, NOW, ordered=True)["node"]["nodes"]
    assert [n["key"] for n in unordered] == ["/d/a", "/d/b"]
    assert [n["key"] for n in ordered] == ["/d/b", "/d/a"]


def test_ttl_is_equal_within_two_seconds_only():
    assert Ttl(100) == Ttl(98)
    assert Ttl(100) != Ttl(97)


def test_expiration_is_judged_not_dropped():
    soon = (NOW + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    assert expiration_verdict(soon, 10, NOW) == "<expiration>"
    assert "disagrees" in expiration_verdict(soon, 100, NOW)
    assert "bad expiration format" in expiration_verdict("2026-11-26 20:00:10", 10, NOW)


def test_volatile_headers_count_by_presence_and_the_rest_exactly():
    reply = Reply(
        201,
        {"content-type": "application/json", "x-etcd-index": "12", "x-raft-term": "2",
         "date": "Thu, 26 Nov 2026 20:00:00 GMT"},
        b'{"action":"set"}\n',
    )  # fmt: skip
    record = normalise_reply(reply, 10, NOW)
    assert record["headers"] == {
        "content-type": "application/json",
        "x-etcd-index": "i+2",
        "x-raft-index": "<absent>",
        "x-raft-term": "<present>",
        "x-etcd-cluster-id": "<absent>",
    }
    assert record["body"] == {"action": "set"}


def test_shape_keeps_structure_and_types_only():
    assert shape({"b": [{"x": 1}], "a": "s", "c": []}) == {"a": "str", "b": [{"x": "int"}], "c": []}


def test_a_difference_names_the_step_and_both_answers():
    etcd = [{"step": "GET /v2/keys/a", "status": 200}]
    ours = [{"step": "GET /v2/keys/a", "status": 404}]
    text = describe_difference(etcd, ours)
    assert "step 1: GET /v2/keys/a" in text and "etcd: 200" in text and "ours: 404" in text
    assert describe_difference(etcd, etcd) == ""
    assert "etcd gave 1 records, ours 0" in describe_difference(etcd, [])
