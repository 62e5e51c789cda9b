"""Least privilege as an operator sets it up with corralctl: `role layout`, a user per
daemon, `auth enable`. Then an agent's credentials cannot write another agent's
machine record or submit units, an operator without the admin role cannot force a
reboot, and a real corral-fleet agent runs on its own credentials. Passwords are read
from files and never show in `ps`, in the store's log or in corralctl's output."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Ctl, run_ctl

from corral.client import Client, EtcdError
from corral.ctl.role import apply_layout, layout
from corral.fleet.records import StateRecord, UnitRecord, decode, encode, state_key
from corral.testing import ManagedProcess, StoreServer, wait_until

SECRETS = {
    "root": "r00t-Secret-1",
    "agent-m1": "agent-m1-Secret-2",
    "agent-m2": "agent-m2-Secret-3",
    "olga": "viewer-Secret-4",
    "ada": "admin-Secret-5",
}
ROLES = {
    "agent-m1": "corral-agent-m1,corral-engine",
    "agent-m2": "corral-agent-m2",
    "olga": "corral-viewer",
    "ada": "corral-admin",
}


def _password_file(tmp: Path, user: str) -> Path:
    path = tmp / f"{user}.password"
    path.write_text(SECRETS[user] + "\n")
    path.chmod(0o600)
    return path


def _as(store: StoreServer, user: str) -> Client:
    return Client(store.url, username=user, password=SECRETS[user])


def _secure(store: StoreServer, tmp_path: Path) -> StoreServer:
    """Users and roles made by corralctl, then auth turned on."""
    url = ["--endpoint", store.url]
    outputs = []
    for user in SECRETS:
        add = ["user", "add", user, "--new-password-file", str(_password_file(tmp_path, user))]
        if user in ROLES:
            add += ["--roles", ROLES[user]]
        done = run_ctl(*url, *add)
        outputs.append(done)
        assert done.returncode == 0, done.stderr
        if user == "root":
            done = run_ctl(*url, "role", "layout", "--machine", "m1", "--machine", "m2")
            outputs.append(done)
            assert done.returncode == 0, done.stderr
    as_root = [*url, "--username", "root", "--password-file", str(tmp_path / "root.password")]
    done = run_ctl(*as_root, "auth", "enable")
    outputs.append(done)
    assert (done.returncode, done.stdout) == (0, "Authentication enabled\n"), done.stderr
    for done in outputs:
        for secret in SECRETS.values():
            assert secret not in done.stdout + done.stderr
    return store


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    """One secured store for the tests that only add keys of their own (setting it up
    is most of their time)."""
    tmp = tmp_path_factory.mktemp("secured")
    server = StoreServer(tmp / "store").start()
    try:
        yield _secure(server, tmp)
    finally:
        server.stop()


@pytest.fixture
def secured(auth_store: StoreServer, tmp_path: Path) -> StoreServer:
    """A fresh secured store, for tests that change auth itself or need a clean tree."""
    return _secure(auth_store, tmp_path)


def test_layout_is_what_the_daemons_write() -> None:
    roles = layout(["m1"])
    assert roles["corral-agent-m1"][1] == ["/_corral/machines/m1", "/_corral/states/m1/*"]
    assert "/_corral/update/requests/m1/*" in roles["corral-updater-m1"][1]
    assert roles["corral-viewer"] == (["/*"], [])
    assert roles["guest"] == ([], [])


def test_an_agent_writes_only_its_own_machine_record(shared: StoreServer) -> None:
    secured = shared
    with _as(secured, "agent-m1") as agent:
        agent.set("/_corral/machines/m1", '{"id": "m1"}', ttl=30)
        agent.set(state_key("m1", "web.service"), "{}")
        assert agent.get("/_corral", recursive=True).node.dir  # fleet's mirror reads this
        for key in ("/_corral/machines/m2", "/_corral/units/web.service", "/elsewhere"):
            with pytest.raises(EtcdError) as refused:
                agent.set(key, "{}")
            assert (refused.value.code, refused.value.status) == (110, 401)
    with _as(secured, "agent-m2") as other, pytest.raises(EtcdError) as refused:
        other.set("/_corral/engine/leader", "m2")  # m2 may not become the engine
    assert refused.value.code == 110


def test_an_agent_reports_unit_states_only_for_its_own_machine(shared: StoreServer) -> None:
    with _as(shared, "agent-m2") as agent:  # an agent that may not become the engine
        agent.set(state_key("m2", "db.service"), '{"machine": "m2"}')
        agent.delete(state_key("m2", "db.service"))
        for key in (
            state_key("m1", "db.service"),  # another machine's report
            "/_corral/states/m2",  # its directory itself: recursive deletes stay the engine's
            "/_corral/states/m20/db.service",  # a machine id it is a prefix of
            "/_corral/states/db.service/m2",  # the earlier layout
        ):
            with pytest.raises(EtcdError) as refused:
                agent.set(key, '{"machine": "m1", "active": "active"}')
            assert (refused.value.code, refused.value.status) == (110, 401), key
    with _as(shared, "agent-m1") as engine_candidate:  # corral-engine cleans others' reports
        engine_candidate.set(state_key("m2", "db.service"), "{}")
        engine_candidate.delete(state_key("m2", "db.service"))


def test_a_new_layout_revokes_what_the_earlier_one_granted_agents(
    shared: StoreServer, tmp_path: Path
) -> None:
    as_root = ["--endpoint", shared.url, "--username", "root",
               "--password-file", str(_password_file(tmp_path, "root"))]  # fmt: skip
    for args in (
        ("role", "add", "corral-agent-m9"),
        ("role", "grant", "corral-agent-m9", "--path", "/_corral/states/*", "--write"),
        ("role", "grant", "corral-agent-m9", "--path", "/ops/*", "--write"),
        ("role", "layout", "--machine", "m9"),
    ):
        done = run_ctl(*as_root, *args)
        assert done.returncode == 0, done.stderr
    shown = run_ctl(*as_root, "role", "get", "corral-agent-m9").stdout
    write = shown.split("KV Write:\n", 1)[1].split()
    assert write == ["/_corral/machines/m9", "/_corral/states/m9/*", "/ops/*"]


def test_a_new_layout_revokes_the_updaters_fleet_wide_writes(
    shared: StoreServer, tmp_path: Path
) -> None:
    as_root = ["--endpoint", shared.url, "--username", "root",
               "--password-file", str(_password_file(tmp_path, "root"))]  # fmt: skip
    earlier = ["/_corral/update/lock", "/_corral/update/lock-groups/*",
               "/_corral/update/canary/*", "/_corral/update/bad/*", "/_corral/machines/m8"]
    for args in (("role", "add", "corral-updater-m8"),
                 *(("role", "grant", "corral-updater-m8", "--path", p, "--write")
                   for p in [*earlier, "/ops/*"]),
                 ("role", "layout", "--machine", "m8", "--keep-obsolete")):  # fmt: skip
        done = run_ctl(*as_root, *args)
        assert done.returncode == 0, done.stderr

    def writes() -> list[str]:
        shown = run_ctl(*as_root, "role", "get", "corral-updater-m8").stdout
        return shown.split("KV Write:\n", 1)[1].split()

    # while daemons of both versions run: the new grants, and the earlier ones kept
    assert set(earlier) <= set(writes()) and "/_corral/update/reports/m8/*" in writes()
    assert run_ctl(*as_root, "role", "layout", "--machine", "m8").returncode == 0
    assert not set(earlier) & set(writes()) and "/ops/*" in writes()  # an operator's stays
    assert "/_corral/update/reports/m8/*" in writes()


def test_layout_says_what_it_changed_and_a_second_run_changes_nothing(
    shared: StoreServer,
) -> None:
    with _as(shared, "root") as root:
        assert apply_layout(root, ["m1", "m7"]) == ["corral-agent-m7", "corral-updater-m7"]
        assert apply_layout(root, ["m1", "m7"]) == []


def test_an_agent_cannot_submit_units_and_an_admin_can(
    shared: StoreServer, ctl: Ctl, tmp_path: Path
) -> None:
    secured = shared
    unit = tmp_path / "hello.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")

    def submit(user: str) -> subprocess.CompletedProcess[str]:
        return ctl("--endpoint", secured.url, "--username", user, "--password-file",
                   str(_password_file(tmp_path, user)), "unit", "submit", str(unit))  # fmt: skip

    refused = submit("agent-m1")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "110" in refused.stderr and SECRETS["agent-m1"] not in refused.stderr
    assert secured.log_text().count("hello.service") == 0
    done = submit("ada")
    assert done.returncode == 0, done.stderr
    with _as(secured, "olga") as viewer:
        assert viewer.get("/_corral/units/hello.service").node.value


def test_only_an_admin_can_force_a_reboot(shared: StoreServer, ctl: Ctl, tmp_path: Path) -> None:
    secured = shared

    def reboot(user: str) -> subprocess.CompletedProcess[str]:
        return ctl("--endpoint", secured.url, "--username", user, "--password-file",
                   str(_password_file(tmp_path, user)), "update", "reboot", "m1")  # fmt: skip

    refused = reboot("olga")
    assert refused.returncode == 3 and "110" in refused.stderr, refused.stderr
    with Client(secured.url, username="ada", password=SECRETS["ada"]) as admin:
        with pytest.raises(EtcdError):
            admin.get("/_corral/update/requests/m1/reboot")
        assert reboot("ada").returncode == 0
        assert admin.get("/_corral/update/requests/m1/reboot").node.value == "requested"
    # without credentials the guest role has nothing after `role layout`
    with Client(secured.url) as anonymous, pytest.raises(EtcdError):
        anonymous.get("/_corral/update/requests/m1/reboot")


def test_disabling_auth_needs_root(secured: StoreServer, ctl: Ctl, tmp_path: Path) -> None:
    for user in ("ada", "olga"):
        done = ctl("--endpoint", secured.url, "--username", user, "--password-file",
                   str(_password_file(tmp_path, user)), "auth", "disable")  # fmt: skip
        assert done.returncode == 3, done.stderr
    done = ctl("--endpoint", secured.url, "auth", "status")
    assert done.stdout == "enabled\n"
    done = ctl("--endpoint", secured.url, "--username", "root", "auth", "disable",
               env={"CORRAL_PASSWORD": SECRETS["root"]})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ctl("--endpoint", secured.url, "auth", "status").stdout == "disabled\n"


def test_a_fleet_agent_runs_on_its_own_credentials_and_hides_its_password(
    shared: StoreServer, tmp_path: Path
) -> None:
    secured = shared
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    agent = ManagedProcess(
        [sys.executable, "-m", "corral.fleet", "--endpoint", secured.url,
         "--machine-id", "m1", "--executor", "process", "--agent-ttl", "3s",
         "--state-dir", str(tmp_path / "fleet"), "--engine",
         "--username", "agent-m1", "--password-file", str(_password_file(tmp_path, "agent-m1"))],
        tmp_path / "agent.log", dict(env, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    # m2's agent holds only corral-agent-m2: it may report states for m2 alone
    other = ManagedProcess(
        [sys.executable, "-m", "corral.fleet", "--endpoint", secured.url,
         "--machine-id", "m2", "--executor", "process", "--agent-ttl", "3s",
         "--state-dir", str(tmp_path / "fleet2"), "--no-engine",
         "--username", "agent-m2", "--password-file", str(_password_file(tmp_path, "agent-m2"))],
        tmp_path / "agent2.log", dict(env, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    agent.spawn()
    other.spawn()
    try:
        with _as(secured, "ada") as admin:

            def registered() -> bool:
                assert agent.alive(), agent.log_tail()
                try:  # the agent's own record (it has a hostname) and its election
                    record = admin.get("/_corral/machines/m1").node.value or ""
                    leader = admin.get("/_corral/engine/leader").node.value
                except EtcdError:
                    return False
                return '"hostname"' in record and leader == "m1"

            wait_until(registered, 20, "agent m1 registered and elected")
            unit = "[Service]\nExecStart=/bin/sleep 60\n[X-Fleet]\nMachineID=m2\n"
            admin.set("/_corral/units/pinned.service", encode(
                UnitRecord("pinned.service", unit, "launched")))  # fmt: skip

            def reported() -> bool:
                assert other.alive(), other.log_tail()
                try:
                    text = admin.get(state_key("m2", "pinned.service")).node.value
                except EtcdError:
                    return False
                return decode(StateRecord, text).active == "active"

            wait_until(reported, 20, "m2 reports its unit active")
            assert "110" not in other.log_text(), other.log_tail()
        ps = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True)
        assert "agent-m1" in ps.stdout  # the agent is there, its password is not
        for secret in SECRETS.values():
            assert secret not in ps.stdout
    finally:
        other.stop()
        agent.stop()
        for leftover in (tmp_path / "fleet2" / "units").glob("*/supervisor.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(leftover.read_text()), signal.SIGTERM)
    for secret in SECRETS.values():
        assert secret not in agent.log_text() + other.log_text()
        assert secret not in secured.log_text()
    assert "incorrect password" not in secured.log_text()
