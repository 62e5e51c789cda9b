"""A stolen agent credential cannot take over another host of the inventory.

The store's roles (`corralctl role layout`) let `corral-agent-m3` write only m3's own
machine record; m3's agent writes a record in it claiming to be m2, with another
address. ansible-inventory and `corralctl machine list` still show m2 at its real
address, and leave the forged record out with a warning naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from corral.client import Client, EtcdError
from corral.testing import StoreServer

SECRETS = {"root": "r00t-Secret-9", "agent-m2": "m2-Secret-8", "agent-m3": "m3-Secret-7"}


def _ctl(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    return subprocess.run([sys.executable, "-m", "corral.ctl.main", *argv], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _record(machine_id: str, ip: str, **fields: object) -> str:
    return json.dumps({"id": machine_id, "hostname": f"host-{ip}", "ip": ip, "metadata": {},
                       "drained": False, "version": "0.1.0", "journal": "", **fields})  # fmt: skip


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    """Auth on, least-privilege roles; m2's agent registered, m3's agent forged m2."""
    tmp = tmp_path_factory.mktemp("forged")
    store = StoreServer(tmp / "store").start()
    try:
        url = ["--endpoint", store.url]
        for user, password in SECRETS.items():
            (tmp / user).write_text(password + "\n")
        steps = [
            ["user", "add", "root", "--new-password-file", str(tmp / "root")],
            ["role", "layout", "--machine", "m2", "--machine", "m3"],
            *(["user", "add", agent, "--new-password-file", str(tmp / agent),
               "--roles", f"corral-{agent}"] for agent in ("agent-m2", "agent-m3")),
            ["--username", "root", "--password-file", str(tmp / "root"), "auth", "enable"],
        ]  # fmt: skip
        for step in steps:
            done = _ctl(*url, *step)
            assert done.returncode == 0, done.stderr
        with Client(store.url, username="agent-m2", password=SECRETS["agent-m2"]) as m2:
            m2.set("/_corral/machines/m2", _record("m2", "10.0.0.2"), ttl=600)
        with Client(store.url, username="agent-m3", password=SECRETS["agent-m3"]) as m3:
            m3.set("/_corral/machines/m3", _record("m3", "10.0.0.3"), ttl=600)
            with pytest.raises(EtcdError) as refused:  # the role holds: not m2's key...
                m3.set("/_corral/machines/m2", _record("m2", "10.6.6.6"))
            assert refused.value.code == 110
            # ... but its own, with a record saying it is m2
            m3.set("/_corral/machines/m3", _record("m2", "10.6.6.6", hostname="host-10.0.0.2"))
        yield store
    finally:
        store.stop()


def test_ansible_inventory_keeps_the_real_m2_and_skips_the_forgery(forged, run_tool, tmp_path):
    config = tmp_path / "lab.corral.yml"
    config.write_text(f"plugin: corral.cloud.machines\nendpoint: {forged.url}\n")
    as_root = {"CORRAL_USERNAME": "root", "CORRAL_PASSWORD": SECRETS["root"]}
    listed = run_tool(["ansible-inventory", "-i", str(config), "--list"], **as_root)
    assert listed.returncode == 0, listed.stderr
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert sorted(hostvars) == ["m2"]
    assert hostvars["m2"]["ansible_host"] in ("10.0.0.2", {"__ansible_unsafe": "10.0.0.2"})
    warning = " ".join(listed.stderr.split())
    assert "/_corral/machines/m3 skipped: it claims to be machine 'm2'" in warning
    # named by host name, the forged record cannot take m2's either
    config.write_text(config.read_text() + "hostnames: [hostname, id]\n")
    listed = run_tool(["ansible-inventory", "-i", str(config), "--list"], **as_root)
    assert sorted(json.loads(listed.stdout)["_meta"]["hostvars"]) == ["host-10.0.0.2"]


def test_corralctl_lists_the_real_m2_and_warns_about_the_forgery(forged, tmp_path):
    (tmp_path / "root").write_text(SECRETS["root"] + "\n")
    done = _ctl("--endpoint", forged.url, "--username", "root", "--password-file",
                str(tmp_path / "root"), "machine", "list", "--full", "--no-legend")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["m2", "10.0.0.2", "-"]
    assert "Warning: left out: /_corral/machines/m3 claims to be machine 'm2'" in done.stderr
