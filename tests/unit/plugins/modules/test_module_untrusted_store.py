"""What the modules read from the store is untrusted: a directory where a record
belongs, junk JSON or a record of the wrong shape gives a clear failure or a warning
naming the key, never a traceback."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.corral.cloud.plugins.module_utils.units import ClusterView
from ansible_collections.corral.cloud.plugins.modules import unit, unit_info, update, update_info

from corral.client import Client

UNIT = "[Service]\nExecStart=/bin/sleep 1000\n"


def test_a_directory_where_a_unit_record_belongs(endpoint, run_module):
    Client(endpoint).set("/_corral/units/app.service/oops", "x")
    listed = run_module(unit_info.main, {"endpoint": endpoint})
    assert listed["units"] == []  # left out, as any unreadable record
    args = {"endpoint": endpoint, "name": "app.service", "content": UNIT, "wait": False}
    refused = run_module(unit.main, args)
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["msg"] == "/_corral/units/app.service is a directory, not a unit record"


def test_junk_records_are_left_out_and_named(endpoint, run_module):
    good = '{"name": "web.service", "contents": "[Service]\\nExecStart=/bin/true\\n"}'
    tree = {
        "machines": {"m1": "{}"},
        "units": {"web.service": good, "junk.service": "not json", "dir.service": {"a": "b"}},
        "schedule": {"web.service": "[1]"},
        "states": {"m1": {"web.service": '"running"'}},
    }
    view = ClusterView.of(tree)
    assert sorted(view.units) == ["web.service"] and view.schedule == {} and view.states == {}
    assert sorted(view.problems) == [
        "/_corral/schedule/web.service is not a placement: '[1]'",
        "/_corral/states/m1/web.service is not a unit state: '\"running\"'",
        "/_corral/units/dir.service is a directory, not a unit record; left out",
        "/_corral/units/junk.service is not a unit record: 'not json'; left out",
    ]
    client = Client(endpoint)
    for key, value in (("units/web.service", good), ("units/junk.service", "not json"),
                       ("units/dir.service/a", "b"), ("schedule/web.service", "[1]")):  # fmt: skip
        client.set(f"/_corral/{key}", value)
    listed = run_module(unit_info.main, {"endpoint": endpoint})
    assert [u["name"] for u in listed["units"]] == ["web.service"]


def test_a_status_record_that_is_junk_is_no_status_and_is_named(endpoint, capsys):
    Client(endpoint).set("/_corral/update/machines/m1", "[1, 2]")
    args = {"endpoint": endpoint, "machine": "m1", "check": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        update.main()
    out, err = capsys.readouterr()
    refused = json.loads(out)
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["msg"] == "machine m1 has no corral-updated status in the store"
    assert "/_corral/update/machines/m1 is not a status record, ignored: '[1, 2]'" in err


def test_an_earlier_lock_document_of_the_wrong_shape(endpoint, run_module):
    Client(endpoint).set("/_corral/update/lock", '{"semaphore": 1, "max": 1, "holders": 5}')
    info = run_module(update_info.main, {"endpoint": endpoint})
    assert info["lock"] == {"semaphore": 1, "max": 1, "holders": []}
    odd = '{"max": 2, "holders": ["m1", {"a": 1}, 7]}'
    assert update_info.summarize({"lock": odd}, None)[0]["lock"]["holders"] == ["m1"]
