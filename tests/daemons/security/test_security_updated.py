"""corral-updated on least privilege: with auth on, a store served over TLS, and a
user holding only the `corral-updater-<id>` role of `corralctl role layout`, the
daemon publishes its status and heartbeat through `--ca-file --username
--password-file`, and its password shows neither in `ps` nor in its log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_ctl, tls_store
from security_pki import Pki

from corral.client import Client, EtcdError
from corral.testing import ManagedProcess, StoreServer, free_port, wait_until
from corral.updated import records as r

ROOT_SECRET = "r00t-Updated-Secret-1"
UPDATER_SECRET = "updater-m1-Secret-2"


def _password_file(tmp: Path, user: str, secret: str) -> Path:
    path = tmp / f"{user}.password"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def secured(tmp_path: Path, pki: Pki) -> Iterator[StoreServer]:
    """A TLS store with root, an `updater-m1` user holding only corral-updater-m1, and
    auth on (set up over the loopback plain listener, urls[0])."""
    server = tls_store(tmp_path / "store", pki.server)
    try:
        url = ["--endpoint", server.urls[0]]
        for user, secret, roles in (("root", ROOT_SECRET, []),
                                    ("updater-m1", UPDATER_SECRET,
                                     ["--roles", "corral-updater-m1"])):  # fmt: skip
            pw = _password_file(tmp_path, user, secret)
            done = run_ctl(*url, "user", "add", user, "--new-password-file", str(pw), *roles)
            assert done.returncode == 0, done.stderr
        done = run_ctl(*url, "role", "layout", "--machine", "m1")
        assert done.returncode == 0, done.stderr
        done = run_ctl(*url, "--username", "root", "--password-file",
                       str(tmp_path / "root.password"), "auth", "enable")  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield server
    finally:
        server.stop()


def test_an_updater_publishes_its_status_on_its_own_credentials_over_tls(
    secured: StoreServer, pki: Pki, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    password_file = _password_file(tmp_path, "updater-m1", UPDATER_SECRET)
    # No mirror answers: each check fails, and the failure is the status published.
    mirror = f"http://127.0.0.1:{free_port()}/"
    updated = ManagedProcess(
        [sys.executable, "-m", "corral.updated.cli", "--endpoint", secured.urls[1],
         "--machine-id", "m1", "--mirror", mirror, "--pin", "A" * 40,
         "--state-dir", str(tmp_path / "state"), "--slot-dir", str(tmp_path / "slots"),
         "--interval", "1h", "--tick", "0.2s", "--alive-ttl", "30s",
         "--ca-file", str(pki.ca), "--username", "updater-m1",
         "--password-file", str(password_file)],
        tmp_path / "updated.log", dict(env, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    updated.spawn()
    try:
        with Client(secured.urls[0], username="root", password=ROOT_SECRET) as root:

            def published() -> bool:
                assert updated.alive(), updated.log_text()[-2000:]
                try:
                    status = json.loads(root.get(f"{r.MACHINES}/m1").node.value or "{}")
                    root.get(f"{r.ALIVE}/m1")
                except EtcdError:
                    return False
                # the first check ran and its failure was published too, not just the start
                return status.get("status") == r.ERROR and mirror[:-1] in status["error"]

            wait_until(published, 30, "corral-updated's status and heartbeat in the store")
        ps = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True)
        assert "updater-m1" in ps.stdout  # the daemon is there, its password is not
        assert UPDATER_SECRET not in ps.stdout
    finally:
        updated.stop()
    log = updated.log_text()
    assert UPDATER_SECRET not in log and ROOT_SECRET not in log
    assert "status not published" not in log
    assert "incorrect password" not in secured.log_text()


def test_an_unreadable_password_file_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corral.updated.cli", "--endpoint", "http://127.0.0.1:9",
         "--machine-id", "m1", "--mirror", "http://127.0.0.1:9/", "--pin", "A" * 40,
         "--state-dir", str(tmp_path / "state"), "--slot-dir", str(tmp_path / "slots"),
         "--username", "updater-m1", "--password-file", str(tmp_path / "missing")],
        env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot read password file" in done.stderr and "Traceback" not in done.stderr
