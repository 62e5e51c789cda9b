"""Who may do what with the update keys, against a real store with auth on: every role of
`corralctl role layout` against every fleet-wide and per-machine key, and a stolen
updater credential of m3 that must not be able to hurt any machine but m3."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.ctl.auth import auth_call
from corral.ctl.role import apply_layout, layout
from corral.testing import EtcdServer, StoreServer
from corral.updated import records as r
from corral.updated.reboot_lock import RebootLock
from corral.updated.reports import read_reports
from corral.updated.verdicts import canary, failures, proven_by

MACHINES = ["m1", "m2", "m3"]
PASSWORD = "Matrix-Secret-1"
# user -> roles; "anonymous" sends no credentials (the guest role)
USERS = {
    "viewer": ["corral-viewer"],
    "admin": ["corral-admin"],
    "agent-m3": ["corral-agent-m3"],
    "engine": ["corral-engine"],
    "updater-m3": ["corral-updater-m3"],
}
ROLES = ["anonymous", *USERS]
U = r.ROOT
REPORT = r.encode(r.Verdict("rel-1", "1.1.0", "m3", r.FAILED, "gate"))


@dataclass(frozen=True)
class Action:
    what: str
    key: str
    op: str  # set, delete (the key exists first), append, read
    allowed: frozenset[str]

    def run(self, client: Client) -> None:
        if self.op == "set":
            client.set(self.key, REPORT)
        elif self.op == "delete":
            client.delete(self.key)
        elif self.op == "append":
            client.append(self.key, "{}")
        else:
            client.get(self.key, recursive=True)


def _a(what: str, key: str, op: str, *allowed: str) -> Action:
    return Action(what, key, op, frozenset({"admin", *allowed}))


READERS = ("viewer", "agent-m3", "engine", "updater-m3")
MATRIX = [
    # fleet-wide: operators only
    _a("mark a release bad for another machine", f"{U}/reports/m1/rel-1", "set"),
    _a("clear another machine's failed report", f"{U}/reports/m1/rel-1", "delete"),
    _a("mark a release bad (earlier layout)", f"{U}/bad/rel-1", "set"),
    _a("clear a bad mark (earlier layout)", f"{U}/bad/rel-1", "delete"),
    _a("name a canary", f"{U}/canaries/m3", "set"),
    _a("prove a canary (earlier layout)", f"{U}/canary/rel-1", "set"),
    _a("change the lock's size", f"{U}/reboot-lock/max/lock", "set"),
    _a("change a group lock's size", f"{U}/reboot-lock/max/lock-groups/db", "set"),
    _a("rewrite the earlier lock document", f"{U}/lock", "set"),
    _a("rewrite an earlier group lock", f"{U}/lock-groups/db", "set"),
    _a("take another machine's lock place", f"{U}/reboot-lock/holders/m1/lock", "set"),
    _a("give back another's lock place", f"{U}/reboot-lock/holders/m1/lock", "delete"),
    _a("hold every machine", f"{U}/holds/all", "set"),
    _a("hold another machine", f"{U}/holds/m1", "set"),
    _a("release a hold of its own machine", f"{U}/holds/m3", "delete"),
    _a("set the cluster's settings", f"{U}/config/all", "set"),
    _a("set its own machine's settings", f"{U}/config/m3", "set"),
    _a("ask another machine to reboot", f"{U}/requests/m1/reboot", "set"),
    _a("publish another machine's status", f"{U}/machines/m1", "set"),
    _a("heartbeat for another machine", f"{U}/alive/m1", "set"),
    _a("write another machine's history", f"{U}/history/m1", "append"),
    _a("drain another machine", f"{U}/drain/m1", "set"),
    _a("write another machine's report prefix", f"{U}/reports/m30/rel-1", "set"),
    _a("submit a unit", "/_corral/units/x.service", "set"),
    _a("write the agent's record of another machine", "/_corral/machines/m1", "set"),
    _a("report another machine's unit state", "/_corral/states/m1/x.service", "set", "engine"),
    _a("place a unit", "/_corral/schedule/x.service", "set", "engine"),
    _a("become the engine", "/_corral/engine/leader", "set", "engine"),
    # a machine's own facts: its updater (or agent) only
    _a("publish its status", f"{U}/machines/m3", "set", "updater-m3"),
    _a("heartbeat", f"{U}/alive/m3", "set", "updater-m3"),
    _a("write its history", f"{U}/history/m3", "append", "updater-m3"),
    _a("report its verdict", f"{U}/reports/m3/rel-1", "set", "updater-m3"),
    _a("withdraw its verdict", f"{U}/reports/m3/rel-1", "delete", "updater-m3"),
    _a("consume its request", f"{U}/requests/m3/check", "delete", "updater-m3"),
    _a("ask its agent to drain", f"{U}/drain/m3", "set", "updater-m3"),
    _a("take its lock place", f"{U}/reboot-lock/holders/m3/lock", "set", "updater-m3"),
    _a("give back its lock place", f"{U}/reboot-lock/holders/m3/lock", "delete", "updater-m3"),
    _a("take its group lock place", f"{U}/reboot-lock/holders/m3/lock-groups/db", "set",
       "updater-m3"),
    _a("write its machine record (agent)", "/_corral/machines/m3", "set", "agent-m3"),
    _a("report its unit state (agent)", "/_corral/states/m3/x.service", "set", "agent-m3",
       "engine"),
    # reading
    _a("read the update keys", U, "read", *READERS),
    _a("read everything", "/", "read", "viewer"),
]


@dataclass(frozen=True)
class Secured:
    backend: str
    url: str


def _etcd(tmp: Path) -> EtcdServer:
    return EtcdServer(tmp / "etcd").start()


def _store(tmp: Path) -> StoreServer:
    return StoreServer(tmp / "store").start()


@pytest.fixture(scope="module", params=["corral-store", "etcd"])
def secured(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:  # fmt: skip
    """A store (corral-store's embedded backend, or etcd 3.4) with the layout's roles, a
    user per role and auth on."""
    start: Callable[[Path], StoreServer | EtcdServer] = (
        _store if request.param == "corral-store" else _etcd)  # fmt: skip
    server = start(tmp_path_factory.mktemp(request.param))
    try:
        with Client(server.url) as root:
            auth_call(root, "PUT", "/users/root", {"user": "root", "password": PASSWORD})
            apply_layout(root, MACHINES)
            for user, roles in USERS.items():
                auth_call(root, "PUT", f"/users/{user}",
                          {"user": user, "password": PASSWORD, "roles": roles})  # fmt: skip
            auth_call(root, "PUT", "/enable")
        yield Secured(request.param, server.url)
    finally:
        server.stop()


def _client(url: str, role: str) -> Client:
    if role == "anonymous":
        return Client(url)
    return Client(url, username=role, password=PASSWORD)


def _allowed(url: str, role: str, action: Action) -> bool:
    with Client(url, username="root", password=PASSWORD) as root:
        if action.op == "delete":
            root.set(action.key, REPORT)
        if action.op == "read":
            root.set(f"{U}/machines/m1", "{}")
        with _client(url, role) as client:
            try:
                action.run(client)
                done = True
            except EtcdError as exc:
                assert (exc.code, exc.status) == (110, 401), (role, action.what, exc)
                done = False
        if action.op != "read":
            with contextlib.suppress(EtcdError):  # a refused write left nothing to remove
                root.delete(action.key, recursive=True)
    return done


# On corral-store only: etcd hashes the password of every request (a minute for the
# matrix); the stolen-credential test below walks the updater's role on both.
@pytest.mark.parametrize("secured", ["corral-store"], indirect=True)
def test_every_role_against_every_update_key(secured: Secured) -> None:
    """The matrix of `corralctl role layout`'s documentation, walked for real."""
    wrong = []
    for action in MATRIX:
        for role in ROLES:
            if _allowed(secured.url, role, action) != (role in action.allowed):
                wrong.append(f"{role} {'may not' if role in action.allowed else 'may'}:"
                             f" {action.what} ({action.op} {action.key})")  # fmt: skip
    assert wrong == []


def test_the_layout_names_every_role_the_matrix_walks() -> None:
    names = set(layout(MACHINES))
    assert {"guest", "corral-viewer", "corral-admin", "corral-engine"} <= names
    assert {f"corral-{kind}-{m}" for kind in ("agent", "updater") for m in MACHINES} <= names

    def kind(role: str) -> str:
        head, _, machine = role.rpartition("-")
        return head if machine in MACHINES else role

    walked = {role for roles in USERS.values() for role in roles} | {"guest"}
    assert {kind(n) for n in names} == {kind(n) for n in walked}


def test_a_stolen_updater_credential_of_m3_hurts_only_m3(secured: Secured) -> None:
    """With m3's updater password, the fleet's safety holds: no bad mark for the others,
    no clearing, no proof, no lock size, no place of another machine, no machine
    record. What it can do reaches m3 alone, or halts a rollout (the safe direction)."""
    with Client(secured.url, username="root", password=PASSWORD) as root:
        failed = r.Verdict("rel-9", "1.9.0", "m1", r.FAILED, "gate failed on m1")
        root.set(f"{U}/reports/m1/rel-9", r.encode(failed))
        root.set(f"{U}/bad/rel-9", r.encode(failed))  # the earlier layout's mark
        root.set(f"{U}/reboot-lock/holders/m1/lock", "held")
        root.set(f"{U}/alive/m1", "alive", ttl=60)
        root.set(f"{U}/canaries/m1", "canary")
    stolen = _client(secured.url, "updater-m3")
    refused = {
        "mark a release bad as m1": lambda: stolen.set(f"{U}/reports/m1/rel-2", REPORT),
        "clear m1's failed report": lambda: stolen.delete(f"{U}/reports/m1/rel-9"),
        "clear an earlier bad mark": lambda: stolen.delete(f"{U}/bad/rel-9"),
        "mark it bad the earlier way": lambda: stolen.set(f"{U}/bad/rel-2", REPORT),
        "name itself canary": lambda: stolen.set(f"{U}/canaries/m3", "canary"),
        "prove the earlier way": lambda: stolen.set(f"{U}/canary/rel-2", r.PROVEN),
        "change the lock's size": lambda: stolen.set(f"{U}/reboot-lock/max/lock", "100"),
        "change the earlier lock": lambda: stolen.set(
            f"{U}/lock", '{"semaphore": 100, "max": 100, "holders": []}'),
        "release m1's place": lambda: stolen.delete(f"{U}/reboot-lock/holders/m1/lock"),
        "take a place as m2": lambda: stolen.set(f"{U}/reboot-lock/holders/m2/lock", "held"),
        "hold another machine": lambda: stolen.set(f"{U}/holds/m1", "held"),
        "release its own hold": lambda: stolen.delete(f"{U}/holds/m3"),
        "hold every machine": lambda: stolen.set(f"{U}/holds/all", "held"),
        "set every machine's settings": lambda: stolen.set(f"{U}/config/all", "{}"),
        "write the agent's record of m3": lambda: stolen.set("/_corral/machines/m3", "{}"),
        "write another agent's record": lambda: stolen.set("/_corral/machines/m1", "{}"),
    }
    with Client(secured.url, username="root", password=PASSWORD) as root:
        root.set(f"{U}/holds/m3", "held")
    for what, attempt in refused.items():
        with pytest.raises(EtcdError) as no:
            attempt()
        assert no.value.code == 110, what
    # through the daemons' own code: its proof does not count, its lock place is its own
    r3 = RebootLock(stolen)
    stolen.set(f"{U}/reports/m3/rel-9", r.encode(r.Verdict("rel-9", "1.9.0", "m3", r.PROVEN)))
    assert r3.acquire("m3") is False  # m1 holds the one place, and m3 cannot change that
    with pytest.raises(EtcdError):
        r3.set_max(100)
    with pytest.raises(EtcdError):
        r3.release("m1")
    with Client(secured.url, username="viewer", password=PASSWORD) as viewer:
        reports = read_reports(viewer)
        assert [v.machine for v in failures(reports, "rel-9")] == ["m1"]  # still bad
        assert proven_by(reports, "rel-9", ["m1"], canary("m2", "stable", ["m1"], [])) is None
        assert RebootLock(viewer).read().holders == ["m1"]
        assert RebootLock(viewer).max() == 1
    # what it may do touches m3 alone: a failed report halts a rollout and names m3
    stolen.set(f"{U}/reports/m3/rel-3", r.encode(r.Verdict("rel-3", "1.3.0", "m3", r.FAILED)))
    with Client(secured.url, username="viewer", password=PASSWORD) as viewer:
        assert [v.machine for v in failures(read_reports(viewer), "rel-3")] == ["m3"]
    stolen.close()
