"""The auth record (every password hash) is served by no read path, on both backends.

It is a key in the tree (`/_corral_auth`), so every way a client reads keys is tried:
plain, recursive, sorted and quorum GETs, the key itself, live watches and streams,
and history watches replaying every index from 1, with auth off and, with auth on,
as a user who may read `/*`.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from urllib.parse import urlsplit

from corral.testing import StoreServer

SECRETS = (b"scrypt", b"rootpw", b"readerpw", b"_corral_auth")


class Client:
    def __init__(self, url: str, user: str = "", password: str = "") -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 0
        self.headers: dict[str, str] = {}
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.seen: list[bytes] = []

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = dict(self.headers)
        if body is not None and path.startswith("/v2/keys"):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.seen.append(data)
        return resp.status, data

    def stream(self, path: str) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=10)
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        return s


def read_until(s: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def user(name: str, password: str, roles: list[str] | None = None) -> bytes:
    body: dict[str, object] = {"user": name, "password": password}
    if roles is not None:
        body["roles"] = roles
    return json.dumps(body).encode()


def every_read(c: Client, top: int) -> None:
    """Every read path a client has, each answer kept in `c.seen`."""
    c.call("GET", "/v2/keys/")
    c.call("GET", "/v2/keys/?recursive=true&sorted=true")
    c.call("GET", "/v2/keys/?recursive=true&quorum=true")
    c.call("GET", "/v2/keys/_corral_auth")
    c.call("GET", "/v2/keys/_corral_auth?quorum=true")
    c.call("GET", "/v2/keys/_corral_auth/")
    c.call("GET", "/v2/keys/_corral_auth?wait=true&waitIndex=1")
    c.call("GET", "/v2/stats/store")
    for index in range(1, top + 1):  # a history watch from every index there is
        c.call("GET", f"/v2/keys/?wait=true&recursive=true&waitIndex={index}")
        c.call("GET", f"/v2/keys/_corral_auth?wait=true&recursive=true&waitIndex={index}")
        s = c.stream(f"/v2/keys/?wait=true&recursive=true&stream=true&waitIndex={index}")
        with s:
            c.seen.append(read_until(s, b"\r\n\r\n{"))


def assert_no_secret(c: Client) -> None:
    for body in c.seen:
        for secret in SECRETS:
            assert secret not in body, body[:300]


def test_no_read_path_serves_the_auth_record(url: str) -> None:
    c = Client(url)
    assert c.call("PUT", "/v2/auth/users/root", user("root", "rootpw"))[0] == 201
    # A recursive stream of the root, open while the auth record changes.
    live = c.stream("/v2/keys/?wait=true&recursive=true&stream=true")
    time.sleep(0.3)
    role = {"role": "reader", "permissions": {"kv": {"read": ["/*"], "write": []}}}
    assert c.call("PUT", "/v2/auth/roles/reader", json.dumps(role).encode())[0] == 201
    added = c.call("PUT", "/v2/auth/users/reader", user("reader", "readerpw", ["reader"]))
    assert added[0] in (200, 201)
    status, body = c.call("PUT", "/v2/keys/plain", b"value=1")
    assert status == 201, body
    top = json.loads(body)["node"]["modifiedIndex"]
    with live:
        got = read_until(live, b'"key":"/plain"')
    assert b'"key":"/plain"' in got
    c.seen.append(got)
    # The history: from the oldest index still kept (the auth changes' on both
    # backends; etcd's first revisions are its own and the gateway's format marker),
    # the first event a recursive watch of the root replays is /plain's.
    answers = [c.call("GET", f"/v2/keys/?wait=true&recursive=true&waitIndex={index}")
               for index in range(1, top + 1)]  # fmt: skip
    oldest = 1 + next(i for i, a in enumerate(answers) if a[0] != 400)
    status, body = answers[oldest - 1]
    assert status == 200 and b'"key":"/plain"' in body, body
    assert c.call("GET", "/v2/keys/_corral_auth")[0] == 401
    every_read(c, top)
    assert_no_secret(c)

    assert c.call("PUT", "/v2/auth/enable")[0] == 200
    reader = Client(url, "reader", "readerpw")
    status, body = reader.call("GET", f"/v2/keys/?wait=true&recursive=true&waitIndex={oldest}")
    assert status == 200 and b'"key":"/plain"' in body, body
    every_read(reader, top)
    assert_no_secret(reader)
    root = Client(url, "root", "rootpw")
    assert root.call("GET", "/v2/keys/_corral_auth")[0] == 401  # not even root
    every_read(root, top)
    assert_no_secret(root)


def test_the_history_loaded_at_start_withholds_the_auth_record(store: StoreServer) -> None:
    c = Client(store.url)
    assert c.call("PUT", "/v2/auth/users/root", user("root", "rootpw"))[0] == 201
    assert c.call("PUT", "/v2/keys/plain", b"value=1")[0] == 201
    store.stop()
    c = Client(store.start().url)  # the history comes back from disk
    status, body = c.call("GET", "/v2/keys/?wait=true&recursive=true&waitIndex=1")
    assert status == 200 and b'"key":"/plain"' in body, body
    every_read(c, 2)
    assert_no_secret(c)
