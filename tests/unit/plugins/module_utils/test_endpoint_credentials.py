"""An endpoint with credentials in it (`http://user:password@host`) is refused by the
lookup, the modules, the inventory and corralctl, and the password shows nowhere: not
in the error, not in a module's invocation. etcdctl ignores such credentials silently,
which sends requests without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader, lookup_loader
from ansible_collections.corral.cloud.plugins.modules import kv, kv_info

from corral.client import Client

PASSWORD = "Pw-in/the@url"


@pytest.fixture
def with_credentials(endpoint: str) -> str:
    Client(endpoint).set("/config/port", "80")
    return endpoint.replace("http://", f"http://root:{PASSWORD}@")


def test_the_lookup_refuses_it_without_showing_the_password(with_credentials):
    lookup = lookup_loader.get("corral.cloud.kv")
    with pytest.raises(AnsibleError) as refused:
        lookup.run(["/config/port"], {}, endpoint=with_credentials)
    assert "has credentials in it" in str(refused.value)
    assert "http://***@127.0.0.1:" in str(refused.value)
    assert PASSWORD not in str(refused.value) and "root:" not in str(refused.value)
    with pytest.raises(AnsibleError) as refused:  # refused for its scheme first
        lookup.run(["/config/port"], {}, endpoint=with_credentials.replace("http", "ftp"))
    assert "'ftp://***@127.0.0.1:" in str(refused.value) and PASSWORD not in str(refused.value)


@pytest.mark.parametrize("main", [kv_info.main, kv.main])
def test_a_module_refuses_it_and_masks_it_in_its_invocation(main, with_credentials, run_module):
    args = {"endpoint": with_credentials, "key": "/config/port"}
    if main is kv.main:
        args["value"] = "81"
    result = run_module(main, args)
    assert result["failed"] is True and "has credentials in it" in result["msg"]
    assert result["invocation"]["module_args"]["key"] == "/config/port"
    assert PASSWORD not in json.dumps(result)
    assert "root:" not in json.dumps(result)


def test_the_inventory_refuses_it_without_showing_the_password(with_credentials, tmp_path):
    config = tmp_path / "corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: '{with_credentials}'\n")
    plugin = inventory_loader.get("corral.cloud.machines")
    empty = InventoryManager(loader=DataLoader(), sources=[])
    with pytest.raises(AnsibleError) as refused:
        plugin.parse(empty._inventory, DataLoader(), str(config), cache=False)
    assert "has credentials in it" in str(refused.value)
    assert PASSWORD not in str(refused.value)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_corralctl_refuses_it_without_showing_the_password(how, with_credentials):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    argv = [sys.executable, "-m", "corral.ctl.main", "kv", "get", "/config/port"]
    if how == "flag":
        argv[3:3] = ["--endpoint", with_credentials]
    else:
        env["CORRAL_ENDPOINT"] = with_credentials
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0 and done.stdout == ""
    assert "has credentials in it" in done.stderr and "http://***@127.0.0.1:" in done.stderr
    assert PASSWORD not in done.stderr
