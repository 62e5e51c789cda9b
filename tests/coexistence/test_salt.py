"""Salt's etcd execution module (etcd v2 through python-etcd) reads and writes
corral-store's keys unchanged: masterless `salt-call` from the Salt venv that `make
test` builds (.venv/salt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from corral.client import Client
from corral.testing import StoreServer

REPO = Path(__file__).resolve().parents[2]
SALT_CALL = REPO / ".venv" / "salt" / "bin" / "salt-call"


def _salt(tmp_path: Path, store: StoreServer, *args: str) -> str:
    if not SALT_CALL.exists():
        pytest.fail(f"{SALT_CALL} missing: run `make test`, which builds Salt's venv")
    url = urlsplit(store.url)
    config = tmp_path / "salt"
    (config / "pki").mkdir(parents=True, exist_ok=True)
    (config / "minion").write_text(
        f"file_client: local\nroot_dir: {config}/root\npki_dir: {config}/pki\n"
        f"cachedir: {config}/cache\nlog_file: {config}/minion.log\n"
        f"corral:\n  etcd.host: {url.hostname}\n  etcd.port: {url.port}\n"
        "  etcd.require_v2: true\n"
    )
    got = subprocess.run([str(SALT_CALL), "--local", "-c", str(config), "--out", "json",
                          *args, "profile=corral"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    return got.stdout


def test_salt_reads_and_writes_corral_keys(store: StoreServer, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "corral.ctl.main", "--endpoint", store.url, "kv",
                    "set", "/config/ntp/server", "ntp1.example.test"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    assert '"ntp1.example.test"' in _salt(tmp_path, store, "etcd.get", "/config/ntp/server")
    _salt(tmp_path, store, "etcd.set", "/config/from-salt", "hello")
    with Client(store.url) as client:
        assert client.get("/config/from-salt").node.value == "hello"
    listing = _salt(tmp_path, store, "etcd.ls", "/config")
    assert "/config/ntp" in listing and "/config/from-salt" in listing
