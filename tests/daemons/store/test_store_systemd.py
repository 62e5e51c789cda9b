"""corral-store under systemd: READY=1 once it listens with its log replayed,
WATCHDOG=1 while its loop runs, STOPPING=1 on SIGTERM, on a real NOTIFY_SOCKET;
journald-native or JSON log lines starting with its version; its version on /version."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from corral import __version__
from corral.testing import StoreServer, systemd_stand_in

from .wire import call


def test_ready_after_replay_watchdog_and_stopping(tmp_path: Path) -> None:
    first = StoreServer(tmp_path / "store").start()
    call(first.url, "PUT", "/v2/keys/kept", form={"value": "before"})
    first.stop()
    log = tmp_path / "store.log"
    with systemd_stand_in(tmp_path, log) as (sock, env):
        store = StoreServer(tmp_path / "store", listen="http://127.0.0.1:0", log_path=log)
        store.env = dict(store.env or {}, **env)
        store.spawn()
        said = sock.recv(4096).decode()
        assert said.startswith("READY=1\nSTATUS=serving http://127.0.0.1:"), said
        url = said.removeprefix("READY=1\nSTATUS=serving ")
        # ready means: listening, and the log replayed
        assert call(url, "GET", "/v2/keys/kept").json["node"]["value"] == "before"
        assert [sock.recv(4096).decode() for _ in range(3)] == ["WATCHDOG=1"] * 3
        assert store.proc is not None
        store.proc.terminate()
        while (said := sock.recv(4096).decode()) == "WATCHDOG=1":
            pass
        assert said == "STOPPING=1"
        assert store.proc.wait(10) == 0
    lines = store.log_text().splitlines()
    python = sys.version.split()[0]
    assert lines[0] == f"<6>corral.store: corral-store {__version__} (Python {python})", lines
    assert f"<6>corral.store: serving client requests on {url}" in lines
    assert "<4>corral.store: authentication is off: every client may read and write every key" \
        in lines  # fmt: skip
    assert lines[-1] == "<6>corral.store: stopped"


def test_without_watchdog_it_only_says_ready_and_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        store = StoreServer(tmp_path / "store")
        store.env = dict(store.env or os.environ, NOTIFY_SOCKET=path)
        store.start()
        assert sock.recv(4096).decode().startswith("READY=1\n")
        store.stop()
        assert sock.recv(4096).decode() == "STOPPING=1"


def test_json_log_lines(tmp_path: Path) -> None:
    store = StoreServer(tmp_path / "store", ["--log-format", "json", "--log-level", "debug"])
    store.start()
    store.stop()
    entries = [json.loads(line) for line in store.log_text().splitlines()]
    assert entries[0]["message"].startswith(f"corral-store {__version__} ")
    assert {e["daemon"] for e in entries} == {"corral-store"}
    assert any(e["message"].startswith("serving client requests on ") for e in entries)
    assert entries[-1]["message"] == "stopped"


def test_version_names_corral_beside_etcd(tmp_path: Path) -> None:
    store = StoreServer(tmp_path / "store").start()
    try:
        answer = call(store.url, "GET", "/version").json
    finally:
        store.stop()
    # etcd's two fields, which clients check, and corral-store's own
    assert answer == {"etcdserver": "3.4.23", "etcdcluster": "3.4.0", "corral": __version__}
