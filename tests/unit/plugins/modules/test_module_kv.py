"""Modules kv and kv_info run in-process against a real store."""

from __future__ import annotations

import pytest
from ansible_collections.corral.cloud.plugins.modules import kv, kv_info

from corral.client import Client


def test_kv_writes_once_then_reports_no_change(endpoint, run_module):
    args = {"endpoint": endpoint, "key": "/a/b", "value": "one", "_ansible_diff": True}
    first = run_module(kv.main, args)
    assert first["changed"] is True
    assert first["node"]["value"] == "one" and first["prev_node"] is None
    assert first["diff"]["before"] == "" and first["diff"]["after"] == "one\n"
    index = first["node"]["modified_index"]
    second = run_module(kv.main, args)
    assert second["changed"] is False and second["node"]["modified_index"] == index
    assert Client(endpoint).get("/a/b").node.modified_index == index


def test_kv_check_mode_reports_without_writing(endpoint, run_module):
    Client(endpoint).set("/k", "old")
    args = {"endpoint": endpoint, "key": "/k", "value": "new", "_ansible_check_mode": True}
    result = run_module(kv.main, args)
    assert result["changed"] is True and result["node"]["value"] == "new"
    assert result["prev_node"]["value"] == "old"
    assert Client(endpoint).get("/k").node.value == "old"


def test_kv_absent_needs_no_value(endpoint, run_module):
    Client(endpoint).set("/k", "v")
    args = {"endpoint": endpoint, "key": "/k", "state": "absent"}
    result = run_module(kv.main, args)
    assert result["changed"] is True and result["prev_node"]["value"] == "v"
    assert result["node"] is None
    assert run_module(kv.main, args)["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"key": "/k"}, "value is required"),
        ({"key": "/k", "value": "v", "dir": True}, "a directory has no value"),
        ({"key": "/k", "value": "v", "prev_value": "zz"}, "compare failed"),
    ],
)
def test_kv_refuses_with_a_message(endpoint, run_module, args, message):
    Client(endpoint).set("/k", "x")
    result = run_module(kv.main, {"endpoint": endpoint, **args})
    assert result["failed"] is True and message in result["msg"]
    assert Client(endpoint).get("/k").node.value == "x"


def test_kv_info_reports_missing_and_present_keys(endpoint, run_module):
    missing = run_module(kv_info.main, {"endpoint": endpoint, "key": "/d"})
    assert missing["exists"] is False and missing["node"] is None
    Client(endpoint).set("/d/x/y", "1")
    found = run_module(kv_info.main, {"endpoint": endpoint, "key": "d", "recursive": True})
    assert found["exists"] is True and found["content"] == {"x": {"y": "1"}}
    assert found["changed"] is False and found["node"]["dir"] is True


@pytest.mark.parametrize("endpoint", ["127.0.0.1:2379", "ftp://x", "http://", "http://a,b"])
@pytest.mark.parametrize(
    ("main", "args"), [(kv.main, {"state": "absent"}), (kv_info.main, {})], ids=["kv", "info"]
)
def test_an_endpoint_that_is_not_a_url_is_refused(run_module, endpoint, main, args):
    result = run_module(main, {"endpoint": endpoint, "key": "/k", **args})
    assert result["failed"] is True
    assert "is not an http:// or https:// URL with a host" in result["msg"]


def test_kv_ttl_is_a_duration_rounded_up_to_seconds(endpoint, run_module):
    # "5min" and "1.5" were refused: ttl was an int
    result = run_module(kv.main, {"endpoint": endpoint, "key": "/t", "value": "v", "ttl": "5min"})
    assert result["changed"] is True
    ttl = Client(endpoint).get("/t").node.ttl
    assert ttl is not None and 300 - 30 < ttl <= 300
    run_module(kv.main, {"endpoint": endpoint, "key": "/u", "value": "v", "ttl": "1.5"})
    assert Client(endpoint).get("/u").node.ttl in (1, 2)  # 2 s granted, read a moment later
    bad = run_module(kv.main, {"endpoint": endpoint, "key": "/t", "value": "v", "ttl": "soon"})
    assert bad["failed"] is True and "ttl: bad duration 'soon'" in bad["msg"]
