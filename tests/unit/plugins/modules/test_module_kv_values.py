"""corral.cloud.kv with a value that is no string (YAML gives dicts, lists, booleans):
refused with a clear message, or stored as JSON with value_format=json; never as a
Python repr. Check mode and diff show exactly the text a real run writes."""

from __future__ import annotations

import json

import pytest
from ansible_collections.corral.cloud.plugins.modules import kv

from corral.client import Client, EtcdError

CONFIG = {"port": 8080, "hosts": ["a", "b"], "debug": False}


@pytest.mark.parametrize(("value", "kind"), [(CONFIG, "a dict"), (["a", "b"], "a list"),
                                             (True, "a boolean")])  # fmt: skip
def test_a_value_that_is_no_text_is_refused_and_nothing_written(endpoint, run_module, value, kind):
    result = run_module(kv.main, {"endpoint": endpoint, "key": "/app", "value": value})
    assert result["failed"] is True and result.get("changed", False) is False
    assert f"value is {kind}" in result["msg"] and "value_format=json" in result["msg"]
    with pytest.raises(EtcdError):
        Client(endpoint).get("/app")


def test_numbers_are_written_as_yaml_wrote_them(endpoint, run_module):
    result = run_module(kv.main, {"endpoint": endpoint, "key": "/port", "value": 8080})
    assert result["changed"] is True and Client(endpoint).get("/port").node.value == "8080"


def test_value_format_json_writes_json_that_check_mode_and_diff_showed(endpoint, run_module):
    args = {"endpoint": endpoint, "key": "/app", "value": CONFIG, "value_format": "json",
            "_ansible_diff": True}  # fmt: skip
    check = run_module(kv.main, {**args, "_ansible_check_mode": True})
    assert check["changed"] is True
    with pytest.raises(EtcdError):
        Client(endpoint).get("/app")
    real = run_module(kv.main, args)
    stored = Client(endpoint).get("/app").node.value
    assert json.loads(stored) == CONFIG
    assert check["diff"]["after"] == real["diff"]["after"] == stored + "\n"
    assert check["node"]["value"] == real["node"]["value"] == stored
    # the same data again (keys in another order, or as stored by hand) changes nothing
    Client(endpoint).set("/app", json.dumps(CONFIG, indent=2))
    again = run_module(kv.main, {**args, "value": dict(reversed(list(CONFIG.items())))})
    assert again["changed"] is False
    other = run_module(kv.main, {**args, "value": {**CONFIG, "port": 8081}})
    assert other["changed"] is True
    assert json.loads(Client(endpoint).get("/app").node.value)["port"] == 8081


def test_value_format_json_quotes_a_string(endpoint, run_module):
    args = {"endpoint": endpoint, "key": "/name", "value": "web", "value_format": "json"}
    run_module(kv.main, args)
    assert Client(endpoint).get("/name").node.value == '"web"'


def test_json_true_is_not_the_number_one(endpoint, run_module):
    Client(endpoint).set("/flag", "1")
    args = {"endpoint": endpoint, "key": "/flag", "value": True, "value_format": "json"}
    assert run_module(kv.main, args)["changed"] is True
    assert Client(endpoint).get("/flag").node.value == "true"
