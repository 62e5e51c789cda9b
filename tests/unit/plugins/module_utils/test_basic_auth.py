"""username/password against a real etcd with v2 authentication on: the lookup and the
modules authenticate, and a store that refuses says why."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader
from ansible_collections.corral.cloud.plugins.modules import kv, kv_info

from corral.client import Client

PASSWORD = "s3cret pass:word"


def _put(url: str, body: dict, auth: str | None = None) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    if auth:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=5):
        pass


@pytest.fixture
def auth_store(endpoint: str) -> str:
    """etcd with root's password set, auth enabled and the guest role stripped."""
    Client(endpoint).set("/secret/db", "pw")
    _put(f"{endpoint}/v2/auth/users/root", {"user": "root", "password": PASSWORD})
    _put(f"{endpoint}/v2/auth/enable", {})
    auth = "Basic " + base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    revoke = {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}
    _put(f"{endpoint}/v2/auth/roles/guest", revoke, auth)
    return endpoint


def test_lookup_authenticates_from_keywords_or_variables(auth_store):
    lookup = lookup_loader.get("corral.cloud.kv")
    got = lookup.run(["/secret/db"], {}, endpoint=auth_store, username="root", password=PASSWORD)
    assert got == ["pw"]
    variables = {"corral_endpoint": auth_store, "corral_username": "root",
                 "corral_password": PASSWORD}  # fmt: skip
    assert lookup.run(["/secret/db"], variables) == ["pw"]
    with pytest.raises(AnsibleLookupError, match="requires user authentication"):
        lookup.run(["/secret/db"], {}, endpoint=auth_store)


def test_modules_authenticate_through_open_url(auth_store, run_module):
    creds = {"endpoint": auth_store, "username": "root", "password": PASSWORD}
    written = run_module(kv.main, {**creds, "key": "/secret/db", "value": "new"})
    assert written["changed"] is True
    assert PASSWORD not in json.dumps(written)
    read = run_module(kv_info.main, {**creds, "key": "/secret/db"})
    assert read["value"] == "new"
    refused = run_module(kv_info.main, {"endpoint": auth_store, "key": "/secret/db"})
    assert refused["failed"] is True
    assert "requires user authentication" in refused["msg"] and "/secret/db" in refused["msg"]


def test_the_lookup_reads_the_password_file_before_the_password(auth_store, tmp_path,
                                                                monkeypatch):  # fmt: skip
    """As corralctl and the daemons: $CORRAL_PASSWORD_FILE, then $CORRAL_PASSWORD."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    monkeypatch.setenv("CORRAL_USERNAME", "root")
    monkeypatch.setenv("CORRAL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("CORRAL_PASSWORD", "not the password")
    lookup = lookup_loader.get("corral.cloud.kv")
    assert lookup.run(["/secret/db"], {}, endpoint=auth_store) == ["pw"]
    monkeypatch.delenv("CORRAL_PASSWORD_FILE")
    with pytest.raises(AnsibleLookupError, match="refused the request"):
        lookup.run(["/secret/db"], {}, endpoint=auth_store)
    monkeypatch.setenv("CORRAL_PASSWORD", PASSWORD)
    assert lookup.run(["/secret/db"], {}, endpoint=auth_store) == ["pw"]
