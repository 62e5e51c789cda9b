"""One error vocabulary: every etcd v2 code maps to the class callers catch, and a
refusal of a real corral-store reaches a client caller as that class, with the code,
message, cause, index and HTTP status the store answered."""

from __future__ import annotations

import http.server
import json
import pickle
import threading
from collections.abc import Callable

import pytest

from corral import etcd_errors as e
from corral.client import Client, StoreUnavailable
from corral.store.history import HISTORY_SIZE
from corral.store.limits import KEY_BYTES
from corral.testing import StoreServer

# Stated here, not read from the module: the table a caller relies on.
OWN_CLASS = {
    100: e.KeyNotFound, 101: e.TestFailed, 102: e.NotFile, 104: e.NotDir,
    105: e.NodeExist, 107: e.RootReadOnly, 108: e.DirNotEmpty, 110: e.Unauthorized,
    200: e.ValueRequired, 201: e.PrevValueRequired, 202: e.TTLNaN, 203: e.IndexNaN,
    209: e.InvalidField, 210: e.InvalidForm, 211: e.RefreshValue,
    212: e.RefreshTTLRequired, 300: e.RaftInternal, 301: e.LeaderElect,
    400: e.WatcherCleared, 401: e.EventIndexCleared,
}  # fmt: skip
FAMILY = {1: e.CommandFailed, 2: e.InvalidRequest, 3: e.ClusterError}
STATUS = {100: 404, 101: 412, 102: 403, 105: 412, 108: 403, 110: 401, 300: 500, 301: 500}


@pytest.mark.parametrize("code", sorted(e.MESSAGES))
def test_every_code_maps_to_its_class_and_round_trips_through_its_body(code: int) -> None:
    err = e.EtcdError.from_code(code, "/k", 7)
    expected = OWN_CLASS.get(code) or FAMILY.get(code // 100, e.EtcdError)
    assert type(err) is expected
    if code in OWN_CLASS:
        assert expected(cause="/k", index=7).code == code  # raised by class alone
    if code // 100 in FAMILY:
        assert isinstance(err, FAMILY[code // 100])
    assert isinstance(err, e.WatchCutOff) == (code in (400, 401))
    assert (err.code, err.message, err.status) == (code, e.MESSAGES[code], STATUS.get(code, 400))
    assert isinstance(err, e.StoreError)  # callers catching any store error still do

    body = json.loads(err.to_json())
    again = e.EtcdError.from_body(body, err.status)
    assert type(again) is expected
    assert (again.code, again.message, again.cause, again.index, again.status) == (
        code, e.MESSAGES[code], "/k", 7, err.status,
    )  # fmt: skip
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.code, copy.cause, copy.index) == (expected, code, "/k", 7)


def test_the_body_and_text_are_etcds() -> None:
    err = e.KeyNotFound("/a/ü", 12)
    assert (
        err.to_json()
        == '{"errorCode":100,"message":"Key not found","cause":"/a/ü","index":12}\n'.encode()
    )
    assert e.RootReadOnly(index=3).to_json() == (
        b'{"errorCode":107,"message":"Root is read only","index":3}\n'
    )
    assert str(err) == "100: Key not found (/a/ü) [12]"  # etcdctl's line
    assert str(e.TestFailed(index=4)) == "101: Compare failed [4]"


@pytest.mark.parametrize(
    "body",
    [{"errorCode": "100"}, {"errorCode": None}, {"message": "x"}, {"errorCode": 100, "index": "x"}],
)
def test_a_body_that_is_not_an_etcd_error_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not an etcd error body"):
        e.EtcdError.from_body(body)


def test_a_family_class_needs_its_code() -> None:
    with pytest.raises(TypeError, match="give the code"):
        e.InvalidRequest("x")
    assert e.InvalidRequest("x", code=204).message == "Value or TTL is required in POST form"


def _fill_history(client: Client) -> None:
    for i in range(HISTORY_SIZE + 1):
        client.set("/h", str(i))


# each refusal as a client caller meets it: what to do, the class, the code
REFUSALS: list[tuple[str, Callable[[Client], object], type[e.EtcdError], int]] = [
    ("get a missing key", lambda c: c.get("/missing"), e.KeyNotFound, 100),
    ("compare and swap on another value", lambda c: c.set("/k", "x", prev_value="no"),
     e.TestFailed, 101),
    ("set a value on a directory", lambda c: c.set("/d", "x"), e.NotFile, 102),
    ("a key below a value", lambda c: c.set("/k/child", "x"), e.NotDir, 104),
    ("mkdir an existing directory", lambda c: c.mkdir("/d"), e.NodeExist, 105),
    ("create an existing key", lambda c: c.create("/k", "x"), e.NodeExist, 105),
    ("delete the root", lambda c: c.delete("/", recursive=True, dir=True), e.RootReadOnly, 107),
    ("delete a full directory", lambda c: c.delete("/d", dir=True), e.DirNotEmpty, 108),
    ("an empty prevValue", lambda c: c.set("/k", "x", prev_value=""), e.PrevValueRequired, 201),
    ("a negative ttl", lambda c: c.set("/k", "x", ttl=-1), e.TTLNaN, 202),
    ("a negative prevIndex", lambda c: c.set("/k", "x", prev_index=-1), e.IndexNaN, 203),
    ("a key past the length limit", lambda c: c.set("/" + "k" * KEY_BYTES, "x"),
     e.InvalidField, 209),
    ("a refresh without a ttl", lambda c: c.refresh("/k", None), e.RefreshTTLRequired, 212),
    ("a watch from cleared history", lambda c: (_fill_history(c), c.watch("/h", index=1)),
     e.EventIndexCleared, 401),
]  # fmt: skip


def test_every_refusal_reaches_the_client_as_its_class(store: StoreServer) -> None:
    with Client(store.url) as client:
        client.set("/k", "v")
        client.set("/d/child", "v")
        for what, call, cls, code in REFUSALS:
            with pytest.raises(e.EtcdError) as refused:
                call(client)
            err = refused.value
            assert type(err) is cls, what
            assert (err.code, err.message, err.status) == (code, e.MESSAGES[code],
                                                           STATUS.get(code, 400)), what  # fmt: skip
            # the store's index, except on a request refused before the store saw it (etcd's)
            assert (err.index > 0) != isinstance(err, e.InvalidRequest), what
        assert client.get("/k").node.value == "v"  # nothing refused was applied


def test_bad_credentials_are_unauthorized(store: StoreServer) -> None:
    with Client(store.url) as admin:
        admin.request("PUT", "/v2/auth/users/root", json_body={"user": "root", "password": "pw"})
        assert admin.request("PUT", "/v2/auth/enable").status == 200
    with (
        Client(store.url, username="root", password="wrong") as client,
        pytest.raises(e.Unauthorized) as refused,
    ):
        client.get("/k")
    assert (refused.value.code, refused.value.status) == (110, 401)


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Something in front of the store answering with a body that looks like an error."""

    def do_GET(self) -> None:
        body = b'{"errorCode": "boom", "message": "bad gateway"}'
        self.send_response(502)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_error_body_that_is_not_etcds_is_store_unavailable() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            Client(f"http://127.0.0.1:{server.server_port}") as client,
            pytest.raises(StoreUnavailable, match="HTTP 502: not an etcd error body"),
        ):
            client.get("/k")
    finally:
        server.shutdown()
        server.server_close()
