"""The pure parts of corralctl kv: key cleaning, the formats, exec-watch's environment."""

from __future__ import annotations

import json

from corral.client import KeyNode, Result
from corral.ctl.kv import clean_key, watch_environment
from corral.ctl.kv_output import go_string, go_time, listing, render


def test_keys_are_cleaned_like_go_path_clean() -> None:
    assert clean_key("foo") == "/foo"
    assert clean_key("a//b/./c/../d") == "/a/b/d"
    assert clean_key("//x") == "/x"
    assert clean_key("/../../x") == "/x"
    assert clean_key("/dir/") == "/dir/"
    assert clean_key("") == "/"
    assert clean_key("/") == "/"


def test_json_strings_are_escaped_as_go_escapes_them() -> None:
    assert go_string('<a href="x">&') == '"\\u003ca href=\\"x\\"\\u003e\\u0026"'
    assert go_string("\b\f\n\r\t\x01\x7f\u2028\u2029é") == (
        '"\\u0008\\u000c\\n\\r\\t\\u0001\x7f\\u2028\\u2029é"'
    )
    assert go_string("\ud800") == '"\ufffd"'
    assert json.loads(go_string('\\ "quoted" \x00')) == '\\ "quoted" \x00'


def test_times_are_written_as_go_writes_them() -> None:
    assert go_time("2026-11-26T20:03:41.536940300Z") == "2026-11-26T20:03:41.5369403Z"
    assert go_time("2026-11-26T20:03:41.000000+00:00") == "2026-11-26T20:03:41Z"
    assert go_time("2026-11-26T20:03:41.5-08:00") == "2026-11-26T20:03:41.5-08:00"
    assert go_time("yesterday") == "yesterday"


def _tree() -> Result:
    leaf = KeyNode("/d/sub/leaf", "1", created_index=3, modified_index=3)
    sub = KeyNode("/d/sub", dir=True, nodes=[leaf], created_index=2, modified_index=2)
    key = KeyNode("/d/k", "v", created_index=4, modified_index=4)
    return Result("get", KeyNode("/d", dir=True, nodes=[sub, key]), etcd_index=9)


def test_listing_walks_depth_first() -> None:
    assert listing(_tree(), append_slash=True) == ["/d/sub/", "/d/sub/leaf", "/d/k"]
    key = Result("get", KeyNode("/k", "v"))
    assert listing(key, append_slash=False) == ["/k"]


def test_formats_of_a_deletion() -> None:
    prev = KeyNode("/k", "old", created_index=5, modified_index=5)
    gone = Result("delete", KeyNode("/k", created_index=5, modified_index=6), prev, etcd_index=6)
    assert render(gone, "simple") == (["PrevNode.Value: old"], [])
    assert render(gone, "extended") == (
        [
            "Key: /k",
            "Created-Index: 5",
            "Modified-Index: 6",
            "PrevNode.Value: old",
            "TTL: 0",
            "Index: 6",
        ],
        [],
    )
    (line,), _ = render(gone, "json")
    assert json.loads(line) == {
        "action": "delete",
        "node": {"key": "/k", "value": "", "nodes": None, "createdIndex": 5, "modifiedIndex": 6},
        "prevNode": {
            "key": "/k",
            "value": "old",
            "nodes": None,
            "createdIndex": 5,
            "modifiedIndex": 5,
        },
    }
    assert render(gone, "yaml") == ([], ["Unsupported output format: yaml"])


def test_root_has_an_empty_key_in_json() -> None:
    (line,), _ = render(Result("get", KeyNode("/", dir=True)), "json")
    assert line.startswith('{"action":"get","node":{"key":"","dir":true,"value":"","nodes":null')


def test_exec_watch_environment() -> None:
    event = Result("delete", KeyNode("/k", created_index=5, modified_index=6))
    env = watch_environment(event, {"PATH": "/bin", "ETCD_WATCH_KEY": "stale"})
    assert env == {
        "PATH": "/bin",
        "ETCD_WATCH_ACTION": "delete",
        "ETCD_WATCH_MODIFIED_INDEX": "6",
        "ETCD_WATCH_KEY": "/k",
        "ETCD_WATCH_VALUE": "",
    }
