"""etcd v2's auth API on corral-store, compared request by request with real etcd 3.4.

The same script of requests (users, roles, enabling auth, then every user against
every prefix rule, on read and on write) runs against both servers; statuses and
JSON bodies must match, except where a store index appears. This covers: 401 with
error 110 for a user without the role, for a wrong password and for a guest after
its rights were revoked; root may do everything; disabling auth needs root; etcd's
messages and statuses for refused changes (409, 403, 404, 400).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corral.client import Client
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import EtcdServer, StoreServer, http_call, wait_until

PASSWORDS = {"root": "root-secret", "alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
Answer = tuple[int, Any]


def call(url: str, method: str, path: str, body: Any = None, user: str | None = None,
         password: str | None = None, form: str | None = None) -> Answer:  # fmt: skip
    """A request as `user` (with its password from PASSWORDS unless given), its answer
    without the indexes that differ between two servers."""
    auth = None if user is None else (user, password if password is not None else PASSWORDS[user])
    status, answer = http_call(url, method, path, body, form, auth)
    return status, _without_indexes(answer)


def _without_indexes(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_indexes(v)
            for k, v in value.items()
            if k not in ("modifiedIndex", "createdIndex", "index")
        }
    if isinstance(value, list):
        return [_without_indexes(v) for v in value]
    return value


def role(name: str, read: list[str], write: list[str]) -> dict[str, Any]:
    return {"role": name, "permissions": {"kv": {"read": read, "write": write}}}


SETUP: list[tuple[str, str, Any, str | None]] = [
    ("GET", "/v2/auth/enable", None, None),
    ("PUT", "/v2/auth/enable", None, None),  # 409: no root user yet
    ("PUT", "/v2/auth/users/root", {"user": "root", "password": PASSWORDS["root"]}, None),
    ("PUT", "/v2/auth/roles/reader", role("reader", ["/r/*"], []), None),
    ("PUT", "/v2/auth/roles/writer", role("writer", ["/w/*"], ["/w/*"]), None),
    ("PUT", "/v2/auth/roles/exact", role("exact", ["/e"], ["/e"]), None),
    ("PUT", "/v2/auth/roles/reader", role("reader", ["/x"], []), None),  # 409: exists
    ("PUT", "/v2/auth/roles/root", role("root", ["/x"], []), None),  # 403: built in
    ("PUT", "/v2/auth/users/alice",
     {"user": "alice", "password": PASSWORDS["alice"], "roles": ["reader"]}, None),
    ("PUT", "/v2/auth/users/bob",
     {"user": "bob", "password": PASSWORDS["bob"], "roles": ["writer"]}, None),
    ("PUT", "/v2/auth/users/carol",
     {"user": "carol", "password": PASSWORDS["carol"], "roles": ["exact"]}, None),
    ("PUT", "/v2/auth/users/dave", {"user": "dave"}, None),  # 400: empty password
    ("PUT", "/v2/auth/users/eve", {"user": "mallory", "password": "x"}, None),  # 400
    ("PUT", "/v2/auth/users/eve", "not an object", None),  # 400: invalid JSON
    ("GET", "/v2/auth/users/nobody", None, None),  # 404
    ("GET", "/v2/auth/roles/root", None, None),
    ("GET", "/v2/auth/users/alice", None, None),
    ("PUT", "/v2/auth/enable", None, None),
    ("GET", "/v2/auth/enable", None, None),
    ("GET", "/v2/auth/roles/guest", None, "root"),
    ("GET", "/v2/auth/users", None, None),  # 401: auth routes need root now
    ("GET", "/v2/auth/users", None, "alice"),  # 401: alice is not root
    ("GET", "/v2/auth/users", None, "root"),
    ("DELETE", "/v2/auth/users/root", None, "root"),  # 403 while enabled
    ("PUT", "/v2/auth/users/alice", {"user": "alice", "grant": ["reader"]}, "root"),  # 409
    ("PUT", "/v2/auth/users/alice", {"user": "alice", "revoke": ["writer"]}, "root"),  # 409
    ("PUT", "/v2/auth/roles/guest",
     {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}, "root"),
    ("GET", "/v2/auth/roles", None, "root"),
]  # fmt: skip

USERS = [None, "alice", "bob", "carol", "root"]
KEYS = ["/r/a", "/w/a", "/e", "/other"]


def run_script(url: str) -> list[tuple[str, Answer]]:
    out = []
    with Client(url) as c:
        for key in KEYS:
            c.set(key, "before")
    for method, path, body, user in SETUP:
        out.append((f"{method} {path} as {user}", call(url, method, path, body, user)))
    for user in USERS:
        for key in KEYS:
            what = f"{key} as {user}"
            out.append((f"GET {what}", call(url, "GET", "/v2/keys" + key, user=user)))
            out.append(
                (f"PUT {what}", call(url, "PUT", "/v2/keys" + key, user=user, form="value=x"))
            )
        out.append((f"GET /r? recursive as {user}",
                    call(url, "GET", "/v2/keys/r?recursive=true", user=user)))  # fmt: skip
        out.append((f"DELETE /w?recursive as {user}",
                    call(url, "DELETE", "/v2/keys/w/a", user=user)))  # fmt: skip
    for user, password in (("alice", "wrong"), ("nobody", "x")):
        out.append((f"GET /r/a as {user} with a bad password",
                    call(url, "GET", "/v2/keys/r/a", user=user, password=password)))  # fmt: skip
    for method, path, user in (
        ("DELETE", "/v2/auth/enable", None),
        ("DELETE", "/v2/auth/enable", "alice"),
        ("DELETE", "/v2/auth/enable", "root"),
        ("DELETE", "/v2/auth/enable", "root"),  # 409 already disabled
        ("GET", "/v2/keys/other", None),
    ):
        step = f"{method} {path} as {user}"
        step += " again" if step in dict(out) else ""
        out.append((step, call(url, method, path, None, user)))
    return out


def test_auth_answers_as_etcd_does(etcd: EtcdServer, store: StoreServer) -> None:
    expected, got = run_script(etcd.url), run_script(store.url)
    assert [step for step, _ in got] == [step for step, _ in expected]
    mismatches = [
        f"{step}:\n  etcd  {want}\n  store {have}"
        for (step, want), (_, have) in zip(expected, got, strict=True)
        if want != have
    ]
    assert not mismatches, "\n".join(mismatches)
    answers = dict(got)
    # what a user would notice, spelled out
    refused = answers["PUT /other as alice"]
    assert refused == (401, {
        "errorCode": 110, "message": "The request requires user authentication",
        "cause": "Insufficient credentials",
    })  # fmt: skip
    assert answers["GET /r/a as alice"][0] == 200
    assert answers["GET /w/a as alice"][0] == 401
    assert answers["PUT /w/a as bob"][0] == 200
    assert answers["PUT /e as carol"][0] == 200
    assert answers["GET /r? recursive as carol"][0] == 401
    assert all(answers[f"PUT {k} as root"][0] in (200, 201) for k in KEYS)
    assert answers["GET /r/a as None"][0] == 401  # guest lost its rights
    assert answers["DELETE /v2/auth/enable as alice"][0] == 401
    assert answers["DELETE /v2/auth/enable as root"][0] == 200
    assert answers["DELETE /v2/auth/enable as root again"][0] == 409


def test_auth_survives_a_restart_and_the_record_is_never_served(store: StoreServer) -> None:
    assert "authentication is off" in store.log_text()  # said at start-up while it is
    with Client(store.url) as c:
        c.set("/w/a", "before")
    for method, path, body, user in SETUP:
        call(store.url, method, path, body, user)
    store.restart()
    assert call(store.url, "GET", "/v2/auth/enable") == (200, {"enabled": True})
    assert call(store.url, "GET", "/v2/keys/w/a", user="bob")[0] == 200
    assert call(store.url, "GET", "/v2/keys/w/a", user="alice")[0] == 401
    for path in ("/v2/keys/_corral_auth", "/v2/keys/_corral_auth?wait=true",
                 "/v2/keys/?recursive=true"):  # fmt: skip
        status, body = call(store.url, "GET", path, user="root")
        assert "scrypt" not in json.dumps(body)
        assert "_corral_auth" not in json.dumps(body) or status == 401
    assert call(store.url, "DELETE", "/v2/keys/_corral_auth", user="root")[0] == 401
    assert "on" in store.log_text().split("authentication is", 2)[-1][:5]


def test_auth_on_the_etcd_backend_holds_across_gateways(tmp_path: Path) -> None:
    """Two gateways over one etcd: users made and auth enabled through one are
    enforced by the other (it re-reads the auth record), and survive both restarting."""
    member = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    gateways: list[StoreServer] = []
    try:
        gateways = [gateway(tmp_path / f"g{i}", [member]).start() for i in (1, 2)]
        one, two = (g.url for g in gateways)
        with Client(one) as c:
            c.set("/w/a", "before")
        for method, path, body, user in SETUP:
            call(one, method, path, body, user)

        def enforced() -> bool:
            # the whole set-up, guest's revocation (its last step) included, reaches the
            # second gateway as one record per change: wait for the last one
            return (
                call(two, "GET", "/v2/keys/w/a", user="alice")[0] == 401
                and call(two, "GET", "/v2/keys/w/a")[0] == 401  # guest revoked via one
            )

        wait_until(enforced, 10, "the second gateway to enforce auth")
        assert call(two, "GET", "/v2/keys/w/a", user="bob")[0] == 200
        two = gateways[1].restart().url  # port 0: a new port
        assert call(two, "GET", "/v2/keys/w/a", user="alice")[0] == 401
        assert call(two, "DELETE", "/v2/auth/enable", None, "root")[0] == 200
        wait_until(lambda: call(one, "GET", "/v2/keys/w/a")[0] == 200, 10, "auth off on one")
    finally:
        for g in gateways:
            g.stop()
        member.stop()
