"""Passwords never appear in Ansible's output: a play with the kv module and the kv
lookup, run with -vvv against a store with auth on, succeeding and failing (a wrong
password), shows neither password, while the store's answers do come through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ansible_env

from corral.client import Client
from corral.testing import StoreServer

BIN = Path(sys.executable).parent
ROOT_PW = "Root-Pass-9f3c"
ADA_PW = "Ada-Pass-71be"
WRONG_PW = "Wrong-Pass-0d42"

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/corral.cloud.corral:
      endpoint: "{{ lookup('env', 'STORE_URL') }}"
      username: ada
      password: "{{ lookup('env', 'STORE_PASSWORD') }}"
  tasks:
    - corral.cloud.kv:
        key: /app/greeting
        value: hello
    - ansible.builtin.debug:
        msg: "read back {{ lookup('corral.cloud.kv', '/app/greeting',
                username='ada', password=lookup('env', 'STORE_PASSWORD')) }}"
"""


@pytest.fixture
def secured(auth_store: StoreServer) -> StoreServer:
    with Client(auth_store.url) as c:
        c.request("PUT", "/v2/auth/users/root", json_body={"user": "root", "password": ROOT_PW})
        admin = {"role": "app", "permissions": {"kv": {"read": ["/app/*"], "write": ["/app/*"]}}}
        c.request("PUT", "/v2/auth/roles/app", json_body=admin)
        ada = {"user": "ada", "password": ADA_PW, "roles": ["app"]}
        c.request("PUT", "/v2/auth/users/ada", json_body=ada)
        guest = {"role": "guest", "permissions": {"kv": {"read": [], "write": []}}}
        c.request("PUT", "/v2/auth/roles/guest", json_body=guest)
        assert c.request("PUT", "/v2/auth/enable").status == 200
    return auth_store


def _play(collections: Path, tmp_path: Path, url: str,
          password: str) -> subprocess.CompletedProcess[str]:
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    env = ansible_env(collections, tmp_path, STORE_URL=url, STORE_PASSWORD=password,
                      CORRAL_ENDPOINT=url)  # the lookup's channel for the endpoint
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv", str(play)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_ansible_output_never_shows_the_password(
    secured: StoreServer, collections: Path, tmp_path: Path
) -> None:
    ok = _play(collections, tmp_path, secured.url, ADA_PW)
    out = ok.stdout + ok.stderr
    assert ok.returncode == 0, out
    assert "read back hello" in out
    assert ADA_PW not in out and ROOT_PW not in out

    refused = _play(collections, tmp_path, secured.url, WRONG_PW)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "110" in out  # the store's refusal is reported ...
    assert WRONG_PW not in out and ADA_PW not in out  # ... without the password
    assert ADA_PW not in secured.log_text() and WRONG_PW not in secured.log_text()
