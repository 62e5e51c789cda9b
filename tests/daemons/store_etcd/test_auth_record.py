"""The auth record in etcd is untrusted input: one that cannot be read (not JSON, the
wrong shape, a directory) never turns authentication off.

A gateway refuses to start on one, with one log line naming the problem; a running
gateway that sees one arrive refuses every request with error 300 naming it, until a
readable record is stored again. Written straight into etcd, as a broken tool would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.store.etcdv3.testing import gateway
from corral.testing import EtcdServer, StoreServer, wait_until

from . import etcd_v3
from .auth_calls import call, enable_auth

pytestmark = pytest.mark.etcd

AUTH_V3_KEY = "/corral/keys/_corral_auth"
UNREADABLE = {
    "not JSON": "junk{",
    "a list": "[]",
    "a user without a hash": '{"enabled": true, "users": {"root": "x"}, "roles": {}}',
    "enabled not a boolean": '{"enabled": "yes", "users": {}, "roles": {}}',
    "roles of the wrong type": '{"enabled": true, "users": {}, "roles": {"guest": [1]}}',
    "a directory": "d0\nw\n \n",  # a directory marker as a gateway writes one
}


def _exit_code(server: StoreServer, timeout: float = 20.0) -> int | None:
    server.spawn()
    assert server.proc is not None
    try:
        return server.proc.wait(timeout)
    except Exception:
        server.stop()
        raise


def test_a_gateway_refuses_to_start_on_an_unreadable_auth_record(
    member: EtcdServer, tmp_path: Path
) -> None:
    for n, (what, value) in enumerate(UNREADABLE.items()):
        etcd_v3.put(member, AUTH_V3_KEY, value)
        server = gateway(tmp_path / f"gw-{n}", [member])
        assert _exit_code(server) == 1, f"{what}:\n{server.log_tail()}"
        log = server.log_text()
        refusals = [line for line in log.splitlines() if "refusing to start" in line]
        assert len(refusals) == 1, f"{what}:\n{log}"
        assert "the auth record /_corral_auth" in refusals[0]
        assert "unreadable" in refusals[0], refusals[0]
        assert "Traceback" not in log, f"{what}:\n{log}"
        assert "authentication is off" not in log


def _refused(url: str, root: bool) -> bool:
    status, body = call(url, "GET", "/v2/keys/k", root=root)
    return status == 500 and body["errorCode"] == 300 and "unreadable" in body["cause"]


def test_a_running_gateway_fails_closed_until_a_readable_record_is_stored(
    member: EtcdServer, tmp_path: Path
) -> None:
    servers = [gateway(tmp_path / f"gw-{n}", [member]).start() for n in range(2)]
    try:
        a, b = (s.url for s in servers)
        enable_auth(a)
        assert call(a, "PUT", "/v2/keys/k", root=True, form="value=v")[0] == 201
        good = etcd_v3.get(member, AUTH_V3_KEY)
        assert good is not None
        wait_until(lambda: call(b, "GET", "/v2/keys/k")[0] == 401, 10, "auth on at b")

        etcd_v3.put(member, AUTH_V3_KEY, UNREADABLE["not JSON"])
        for url in (a, b):
            wait_until(lambda u=url: _refused(u, root=False), 10, f"{url} fails closed")
            assert _refused(url, root=True)  # no one is known while the record is unreadable
            status, body = call(url, "PUT", "/v2/keys/k", form="value=w")
            assert (status, body["errorCode"]) == (500, 300)
            status, body = call(url, "GET", "/v2/auth/users", root=True)
            assert status == 500 and "unreadable" in body["message"]

        etcd_v3.put(member, AUTH_V3_KEY, UNREADABLE["a user without a hash"])
        wait_until(lambda: "user 'root' has no password hash" in call(b, "GET", "/v2/keys/k")[1]
                   ["cause"], 10, "the new problem named")  # fmt: skip
        assert _refused(a, root=False)

        etcd_v3.put(member, AUTH_V3_KEY, good)
        for url in (a, b):
            wait_until(lambda u=url: call(u, "GET", "/v2/keys/k", root=True)[0] == 200, 10,
                       f"{url} serves again")  # fmt: skip
            assert call(url, "GET", "/v2/keys/k")[0] == 401  # and auth is still on
        for s in servers:
            log = s.log_text()
            assert "Traceback" not in log, log
            # one line per problem, not one per re-read
            assert log.count("refusing every request") == 2, log
    finally:
        for s in servers:
            s.stop()
