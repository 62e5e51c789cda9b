"""corral.cloud.unit against a real store with no machine: the record is written, the
wait for a machine to run it fails, and the task says both."""

from __future__ import annotations

import json

from ansible_collections.corral.cloud.plugins.modules import unit

from corral.client import Client

UNIT = "[Service]\nExecStart=/bin/sleep 1000\n"


def test_a_failed_wait_after_the_write_reports_changed(endpoint, run_module):
    args = {"endpoint": endpoint, "name": "app.service", "content": UNIT, "wait_timeout": 1}
    result = run_module(unit.main, args)
    assert result["failed"] is True
    assert "did not reach launched within 1s" in result["msg"]
    assert result["changed"] is True  # the record is in the store: the next run is ok
    record = json.loads(Client(endpoint).get("/_corral/units/app.service").node.value)
    assert record["desired"] == "launched"
    again = run_module(unit.main, {**args, "wait": False})
    assert (again.get("failed", False), again["changed"]) == (False, False)


def test_a_refusal_before_any_write_reports_unchanged(endpoint, run_module):
    args = {"endpoint": endpoint, "name": "tmpl@.service", "content": UNIT}
    result = run_module(unit.main, args)
    assert result["failed"] is True and "template" in result["msg"]
    assert result["changed"] is False
