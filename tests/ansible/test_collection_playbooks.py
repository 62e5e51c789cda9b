"""The integration targets run as real playbooks against a real corral-store.

Each test starts a fresh store (port 0), seeds it through the client, runs
ansible-playbook on one target under tests/integration/targets and checks what an
operator would see: the play recap, the diff, the failure message, the store itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from corral.client import Client, EtcdError
from corral.updated.reboot_lock import RebootLock
from corral.updated.semaphore import Semaphore

TARGETS = Path(__file__).resolve().parents[1] / "integration" / "targets"
RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


@pytest.fixture
def play(run_tool, store, tmp_path):
    """Runs one target as a playbook against `store`; returns (rc, output, changed)."""

    def run(target: str, *args: str, **env: str) -> tuple[int, str, int]:
        playbook = tmp_path / f"{target}.yml"
        playbook.write_text(
            f"- name: Target {target}\n  hosts: localhost\n  gather_facts: false\n"
            f"  roles:\n    - role: {target}\n"
        )
        result = run_tool(
            ["ansible-playbook", "-i", "localhost,", "-c", "local",
             "-e", f"corral_endpoint={store.url}", *args, str(playbook)],
            cwd=tmp_path,
            ANSIBLE_ROLES_PATH=str(TARGETS),
            **env,
        )  # fmt: skip
        output = result.stdout + result.stderr
        recap = RECAP.search(output)
        assert recap is not None, output
        return result.returncode, output, int(recap.group(2))

    return run


@pytest.fixture
def client(store):
    with Client(store.url) as c:
        yield c


def _seed(client: Client) -> None:
    client.set("/corral-it/version", "1")
    client.set("/corral-it/old/a", "x")
    client.set("/corral-it/old/deeper/b", "y")


def test_kv_converges_and_a_second_run_changes_nothing(play, client):
    _seed(client)
    rc, out, changed = play("kv")
    assert rc == 0, out
    assert changed == 5
    assert client.get("/corral-it/version").node.value == "2"
    index = client.get("/corral-it", recursive=True).etcd_index

    rc, out, changed = play("kv")
    assert rc == 0, out
    assert changed == 0, out
    assert client.get("/corral-it", recursive=True).etcd_index == index


def test_check_mode_shows_the_diff_and_writes_nothing(play, client):
    _seed(client)
    client.set("/corral-it/app/port", "8000")
    before = client.get("/", recursive=True)
    rc, out, changed = play("kv", "--check", "--diff")
    assert rc == 0, out
    assert changed == 5, out
    assert "--- before: /corral-it/app/port" in out and "+++ after: /corral-it/app/port" in out
    assert "\n-8000\n" in out and "\n+8080\n" in out
    # a recursive delete shows everything that would go
    assert '"deeper": {' in out and '"b": "y"' in out
    after = client.get("/", recursive=True)
    assert after.node.to_tree() == before.node.to_tree()
    assert after.etcd_index == before.etcd_index


def test_a_failed_compare_is_a_clear_failure_and_writes_nothing(play, client):
    _seed(client)
    rc, out, changed = play("kv_cas")
    assert rc == 0, out  # the target rescues the failure and checks its message
    assert "compare failed: key /corral-it/version has value '1', not prev_value '5'" in out
    assert changed == 1
    assert client.get("/corral-it/version").node.value == "2"


def test_keys_with_a_ttl_expire(play, client):
    rc, out, changed = play("kv_ttl")
    assert rc == 0, out
    assert changed == 1
    with pytest.raises(EtcdError):
        client.get("/corral-it/members/a")


def test_lookup_renders_a_config_file_with_the_endpoint_from_ansible_cfg(
    play, client, store, tmp_path
):
    client.set("/corral-it/app/name", "web")
    client.set("/corral-it/app/port", "8080")
    client.set("/corral-it/app/tls/cert", "/etc/app/cert.pem")
    client.set("/corral-it/app/tls/key", "/etc/app/key.pem")
    config = tmp_path / "ansible.cfg"
    config.write_text(f"[corral]\nendpoint = {store.url}\n")
    output = tmp_path / "app.conf"

    # corral_endpoint is only the modules' variable: the lookup reads ansible.cfg
    rc, out, changed = play(
        "lookup_kv", "-e", f"lookup_kv_output={output}", ANSIBLE_CONFIG=str(config)
    )
    assert rc == 0, out
    assert changed == 1
    lines = output.read_text().splitlines()
    assert lines[1:] == [
        "[server]",
        "name = web",
        "port = 8080",
        "debug = false",
        "tls_cert = /etc/app/cert.pem",
        "tls_key = /etc/app/key.pem",
    ]


def test_lookup_failure_names_the_key_and_store(play, client, store, tmp_path):
    client.set("/corral-it/app/port", "8080")
    rc, out, changed = play(
        "lookup_kv", "-e", f"lookup_kv_output={tmp_path / 'x.conf'}",
        CORRAL_ENDPOINT=store.url,
    )  # fmt: skip
    assert changed == 0
    assert rc == 2
    assert f"key /corral-it/app/name not found in store {store.url}" in out
    assert not (tmp_path / "x.conf").exists()


def test_reboot_lock_is_taken_once_and_given_back(play, client):
    rc, out, changed = play("reboot_lock")
    assert rc == 0, out
    assert changed == 4, out  # max, two places taken, one loop giving both back
    assert RebootLock(client).read() == Semaphore(2, 2, [])


def test_update_levers_are_pulled_once(play, client):
    status = {"machine": "it-m1", "status": "UPDATE_STATUS_UPDATED_NEED_REBOOT"}
    client.set("/_corral/update/machines/it-m1", json.dumps(status))
    rc, out, changed = play("update")
    assert rc == 0, out
    assert changed == 3, out  # reboot asked, all held, all released
    assert client.get("/_corral/update/requests/it-m1/reboot").node.value == "requested"
    with pytest.raises(EtcdError):
        client.get("/_corral/update/holds/all")


def test_the_collection_readme_example_runs(run_tool, store, client, tmp_path):
    """The example Galaxy shows (docs/collection.md) runs as written, its connection
    settings pointed at a real store."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "collection.md").read_text()
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    defaults = example[0]["module_defaults"]["group/corral.cloud.corral"]
    assert set(defaults) == {"endpoint", "ca_cert", "username", "password"}
    example[0]["module_defaults"]["group/corral.cloud.corral"] = {"endpoint": store.url}
    playbook = tmp_path / "example.yml"
    playbook.write_text(yaml.safe_dump(example))
    result = run_tool(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=tmp_path, CORRAL_ENDPOINT=store.url,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert client.get("/config/motd").node.value == "maintenance at 02:00"
    assert '"msg": "maintenance at 02:00"' in output
