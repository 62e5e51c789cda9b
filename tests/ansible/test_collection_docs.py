"""Every plugin's documentation renders with ansible-doc, as an operator reads it."""

from __future__ import annotations

import json

import pytest

PLUGINS = [("module", "corral.cloud.kv"), ("module", "corral.cloud.kv_info"),
           ("module", "corral.cloud.machine"), ("module", "corral.cloud.machine_info"),
           ("module", "corral.cloud.unit"),
           ("module", "corral.cloud.unit_info"), ("module", "corral.cloud.reboot_lock"),
           ("module", "corral.cloud.update"), ("module", "corral.cloud.update_info"),
           ("lookup", "corral.cloud.kv"),
           ("inventory", "corral.cloud.machines")]  # fmt: skip


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_ansible_doc_renders(run_tool, kind, name):
    text = run_tool(["ansible-doc", "-t", kind, name])
    assert text.returncode == 0, text.stderr
    assert "WARNING" not in text.stderr and "ERROR" not in text.stderr
    assert "EXAMPLES" in text.stdout and "endpoint" in text.stdout


def test_every_plugin_is_documented_with_examples_and_return_values(run_tool):
    listed = run_tool(["ansible-doc", "--json", "-t", "module", "-l", "corral.cloud"])
    assert listed.returncode == 0, listed.stderr
    modules = set(json.loads(listed.stdout))
    assert {"corral.cloud.kv", "corral.cloud.kv_info", "corral.cloud.machine",
            "corral.cloud.machine_info",
            "corral.cloud.unit", "corral.cloud.unit_info",
            "corral.cloud.reboot_lock", "corral.cloud.update",
            "corral.cloud.update_info"} <= modules  # fmt: skip
    names = sorted(modules)
    docs = run_tool(["ansible-doc", "--json", "-t", "module", *names])
    assert docs.returncode == 0, docs.stderr
    for name, doc in json.loads(docs.stdout).items():
        assert doc["doc"].get("attributes", {}).get("check_mode"), name
        assert doc["examples"].strip() and doc["return"], name
        assert "group/corral.cloud.corral" in json.dumps(doc["doc"]["attributes"]), name
