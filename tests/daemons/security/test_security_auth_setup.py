"""The store role's auth set-up (roles/store/files/auth_setup.py) against a real store:
the first run creates users and roles and enables auth, a second run changes nothing,
a changed password is set again, and neither its output nor its command line ever
holds a password (they come on stdin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.fleet.records import state_key
from corral.testing import StoreServer

SCRIPT = Path(__file__).resolve().parents[3] / "roles/store/files/auth_setup.py"
ROOT_PW, AGENT_PW, OPS_PW = "root-Setup-9a1", "agent-Setup-2b7", "ops-Setup-4c3"


def _spec(agent_password: str = AGENT_PW) -> dict[str, object]:
    return {
        "root_password": ROOT_PW,
        "machines": ["m1", "m2"],
        "users": [
            {"name": "agent-m1", "password": agent_password,
             "roles": ["corral-agent-m1", "corral-engine"]},
            {"name": "agent-m2", "password": AGENT_PW, "roles": ["corral-agent-m2"]},
            {"name": "ops", "password": OPS_PW, "roles": ["corral-admin"]},
        ],
    }  # fmt: skip


def _setup(store: StoreServer, spec: dict[str, object]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), store.url],
        input=json.dumps(spec), capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    for secret in (ROOT_PW, AGENT_PW, OPS_PW, "changed-Setup-5d8"):
        assert secret not in done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_auth_setup_is_idempotent_and_leaves_each_agent_its_own_prefix(
    auth_store: StoreServer,
) -> None:
    first = _setup(auth_store, _spec())
    assert first["changed"] is True
    assert "auth enabled" in first["done"]  # type: ignore[operator]
    assert _setup(auth_store, _spec()) == {"changed": False, "done": []}
    with Client(auth_store.url) as anonymous, pytest.raises(EtcdError) as refused:
        anonymous.set("/anything", "x")
    assert refused.value.code == 110
    with Client(auth_store.url, username="agent-m2", password=AGENT_PW) as agent:
        agent.set(state_key("m2", "web.service"), "{}")
        with pytest.raises(EtcdError) as refused:
            agent.set(state_key("m1", "web.service"), "{}")
        assert refused.value.code == 110
    with Client(auth_store.url, username="ops", password=OPS_PW) as ops:
        ops.set("/_corral/units/web.service", "{}")
    # a new password in the spec is set again, and only that changes
    again = _setup(auth_store, _spec("changed-Setup-5d8"))
    assert again == {"changed": True, "done": ["user agent-m1 password set"]}
    with Client(auth_store.url, username="agent-m1", password="changed-Setup-5d8") as agent:
        agent.set(state_key("m1", "web.service"), "{}")


def test_a_wrong_root_password_is_refused_with_the_reason(auth_store: StoreServer) -> None:
    _setup(auth_store, _spec())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), auth_store.url],
        input=json.dumps({**_spec(), "root_password": "not-it"}),
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "root password given is not the store's" in json.loads(done.stdout)["msg"]
    assert "not-it" not in done.stdout + done.stderr
