"""`-o json` of corralctl's listing and status commands, against a real corral-store:
given before the group or after the command, the same documents, with the field names
the commands' help promises; `-o table` stays the default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from corral.client import Client
from corral.fleet import records as f
from corral.testing import StoreServer
from corral.updated import records as u

MID = "0123456789abcdef"  # longer than the 8 characters tables show


def _ctl(store: StoreServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "ETCDCTL_"))}
    env["CORRAL_NEW_PASSWORD"] = "s3cret-pass"
    return subprocess.run([sys.executable, "-m", "corral.ctl.main", "--endpoint", store.url,
                           *args], capture_output=True, text=True, timeout=60, env=env)  # fmt: skip


def _json(store: StoreServer, group: str, *command: str) -> Any:
    """The document, asserting that `-o json` before the group gives the same one."""
    after = _ctl(store, group, *command, "-o", "json")
    before = _ctl(store, "-o", "json", group, *command)
    assert after.returncode == 0, after.stderr
    assert before.stdout == after.stdout
    return json.loads(after.stdout)


@pytest.fixture
def cluster(store: StoreServer) -> StoreServer:
    """One machine running web.service, db.service placed nowhere, a history, a lock
    holder, a user and a role."""
    unit = "[Unit]\nDescription=the web\n[Service]\nExecStart=/bin/true\n"
    with Client(store.url) as c:
        machine = f.MachineRecord(MID, hostname="h1", ip="10.0.0.1", metadata={"r": "eu"})
        c.set(f"{f.MACHINES}/{MID}", f.encode(machine))
        c.set(f"{f.UNITS}/web.service", f.encode(f.UnitRecord("web.service", unit, "launched")))
        c.set(f"{f.UNITS}/db.service", f.encode(f.UnitRecord("db.service", unit, "launched")))
        c.set(f"{f.SCHEDULE}/web.service", f.encode(f.ScheduleRecord(MID)))
        c.set(f"{f.SCHEDULE}/db.service", f.encode(f.ScheduleRecord("", "no machine fits")))
        state = f.StateRecord(MID, active="active", sub="running", hash="f" * 40, main_pid=42)
        c.set(f.state_key(MID, "web.service"), f.encode(state))
        c.set(f"{u.HISTORY}/{MID}/0001", u.encode(u.HistoryEntry("2026-01-01T00:00:00Z",
                                                                 "installed", "1.2.0", "ok")))
    for args in (("lock", "lock", "--id", MID), ("user", "add", "alice"),
                 ("role", "add", "reader"),
                 ("role", "grant", "reader", "--path", "/app/*", "--read")):  # fmt: skip
        done = _ctl(store, *args)
        assert done.returncode == 0, done.stderr
    return store


def test_units_as_json(cluster: StoreServer) -> None:
    rows = _json(cluster, "unit", "list")
    assert rows == [
        {"unit": "db.service", "machine": None, "active": "inactive", "sub": "dead",
         "load": None, "failures": 0, "pid": None, "hash": None, "reason": "no machine fits"},
        {"unit": "web.service", "machine": MID, "active": "active", "sub": "running",
         "load": "loaded", "failures": 0, "pid": 42, "hash": "f" * 40, "reason": None},
    ]  # fmt: skip
    files = {row["unit"]: row for row in _json(cluster, "unit", "files")}
    assert files["web.service"]["target"] == MID and files["web.service"]["global"] is False
    assert files["web.service"]["state"] == "launched" and files["db.service"]["target"] is None
    assert files["web.service"]["desc"] == "the web" and len(files["web.service"]["hash"]) > 7
    [status] = _json(cluster, "unit", "status", "web.service", "-n", "0")
    assert (status["unit"], status["dstate"], status["unplaced"]) == ("web.service", "launched",
                                                                      None)
    assert [(m["machine"], m["active"], m["pid"]) for m in status["machines"]] == [
        (MID, "active", 42)
    ]
    table = _ctl(cluster, "unit", "list")
    assert table.stdout.startswith("UNIT") and MID not in table.stdout  # table: the default


def test_machines_updates_and_the_lock_as_json(cluster: StoreServer) -> None:
    assert _json(cluster, "machine", "list") == [
        {"machine": MID, "ip": "10.0.0.1", "metadata": {"r": "eu"}, "hostname": "h1",
         "drained": False, "version": ""}
    ]  # fmt: skip
    assert _json(cluster, "update", "history", MID) == [
        {"time": "2026-01-01T00:00:00Z", "event": "installed", "version": "1.2.0",
         "detail": "ok"}
    ]  # fmt: skip
    assert set(_json(cluster, "update", "status")) >= {"machines", "bad_releases"}
    assert _json(cluster, "lock", "status") == {
        "available": 0, "max": 1, "holders": [{"machine": MID, "expired": False}]
    }


def test_users_and_roles_as_json(cluster: StoreServer) -> None:
    users = {row["user"]: row for row in _json(cluster, "user", "list")}
    assert users["alice"] == {"user": "alice", "roles": []}
    roles = {row["role"]: row for row in _json(cluster, "role", "list")}
    assert roles["reader"] == {"role": "reader", "read": ["/app/*"], "write": []}


def test_a_format_a_command_does_not_print_is_refused(store: StoreServer) -> None:
    done = _ctl(store, "unit", "list", "-o", "yaml")
    assert done.returncode == 1 and "unit list prints table or json" in done.stderr
    done = _ctl(store, "-o", "json", "unit", "destroy", "x.service")
    assert done.returncode == 1 and "unit destroy has no output formats" in done.stderr
    assert "Traceback" not in done.stderr
