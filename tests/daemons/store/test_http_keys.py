"""The keys API over HTTP against a real corral-store process."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from corral.testing import StoreServer

from .wire import call, raw


def test_put_then_get_with_etcd_headers(store: StoreServer) -> None:
    a = call(store.url, "PUT", "/v2/keys/hello", form={"value": "world"})
    assert a.status == 201
    assert a.json == {
        "action": "set",
        "node": {"key": "/hello", "value": "world", "modifiedIndex": 1, "createdIndex": 1},
    }
    for header in ("X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id"):
        assert a.headers[header], header
    assert a.headers["X-Etcd-Index"] == "1"
    b = call(store.url, "GET", "/v2/keys/hello")
    assert b.status == 200 and b.json["node"]["value"] == "world"
    again = call(store.url, "PUT", "/v2/keys/hello", query={"value": "again"})
    assert again.status == 200 and again.json["prevNode"]["value"] == "world"


def test_head_answers_headers_only(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/k", form={"value": "v"})
    a = call(store.url, "HEAD", "/v2/keys/k")
    assert a.status == 200 and a.body == b"" and a.headers["X-Etcd-Index"] == "1"
    assert call(store.url, "HEAD", "/v2/keys/missing").status == 404


def test_errors_have_etcd_bodies_and_statuses(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/k", form={"value": "v"})
    cases = [
        ("GET", "/v2/keys/missing", None, 404, 100),
        ("PUT", "/v2/keys/k", {"value": "x", "prevValue": "no"}, 412, 101),
        ("PUT", "/v2/keys/k", {"value": "x", "prevExist": "false"}, 412, 105),
        ("PUT", "/v2/keys/k/sub", {"value": "x"}, 400, 104),
        ("DELETE", "/v2/keys/", None, 400, 107),
        ("PUT", "/v2/keys/k", {"value": "x", "ttl": "soon"}, 400, 202),
        ("PUT", "/v2/keys/k", {"value": "x", "prevIndex": "-1"}, 400, 203),
        ("GET", "/v2/keys/k", {"recursive": "yes"}, 400, 209),
        ("PUT", "/v2/keys/k", {"value": "x", "wait": "true"}, 400, 209),
        ("PUT", "/v2/keys/k", {"value": "x", "prevValue": ""}, 400, 201),
        ("PUT", "/v2/keys/k", {"value": "x", "ttl": "5", "refresh": "true"}, 400, 211),
        ("PUT", "/v2/keys/k", {"refresh": "true"}, 400, 212),
    ]
    for method, path, params, status, code in cases:
        if method == "GET":
            a = call(store.url, method, path, query=params)
        else:
            a = call(store.url, method, path, form=params)
        assert (a.status, a.json["errorCode"]) == (status, code), (method, path, params, a.body)
        assert a.json["message"]
        assert a.headers["X-Etcd-Index"] is not None


def test_directories_delete_and_compare_and_delete(store: StoreServer) -> None:
    assert call(store.url, "PUT", "/v2/keys/d", form={"dir": "true"}).status == 201
    call(store.url, "PUT", "/v2/keys/d/a", form={"value": "1"})
    call(store.url, "PUT", "/v2/keys/d/_h", form={"value": "2"})
    listing = call(store.url, "GET", "/v2/keys/d", query={"recursive": "true", "sorted": "true"})
    assert [n["key"] for n in listing.json["node"]["nodes"]] == ["/d/a"]
    not_empty = call(store.url, "DELETE", "/v2/keys/d", query={"dir": "true"})
    assert (not_empty.status, not_empty.json["errorCode"]) == (403, 108)
    cad = call(store.url, "DELETE", "/v2/keys/d/a", query={"prevValue": "1"})
    assert cad.json["action"] == "compareAndDelete"
    gone = call(store.url, "DELETE", "/v2/keys/d", query={"recursive": "true"})
    assert gone.status == 200 and gone.json["node"]["dir"] is True


def test_post_creates_in_order_keys(store: StoreServer) -> None:
    first = call(store.url, "POST", "/v2/keys/queue", form={"value": "a"})
    second = call(store.url, "POST", "/v2/keys/queue", form={"value": "b"})
    assert first.status == 201 and first.json["action"] == "create"
    assert first.json["node"]["key"] == "/queue/00000000000000000001"
    assert second.json["node"]["key"] == "/queue/00000000000000000002"


def test_malformed_requests_get_clear_errors_and_the_server_lives_on(store: StoreServer) -> None:
    a = call(store.url, "PATCH", "/v2/keys/k")
    assert a.status == 405 and "GET" in a.headers["Allow"]
    bad_escape = call(store.url, "GET", "/v2/keys/k", query="recursive=%zz")
    assert (bad_escape.status, bad_escape.json["errorCode"]) == (400, 210)
    huge = call(store.url, "PUT", "/v2/keys/big", form={"value": "x" * (11 << 20)})
    assert (huge.status, huge.json["errorCode"]) == (400, 210)
    assert huge.headers["X-Etcd-Index"] == "0" and huge.headers["X-Etcd-Cluster-Id"]
    bad = call(store.url, "PUT", "/v2/keys/u?value=caf%C3%A9%FF")
    assert bad.status == 201 and bad.json["node"]["value"] == "café\ufffd"
    brew = raw(store.url, b"BREW /v2/keys/k HTTP/1.1\r\nHost: x\r\n\r\n")
    assert brew.startswith(b"HTTP/1.1 405") and b"Allow: HEAD,GET,PUT,POST,DELETE" in brew
    unclean = raw(store.url, b"GET /v2/keys//a/../u?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert unclean.startswith(b"HTTP/1.1 301") and b"Location: /v2/keys/u?x=1\r\n" in unclean
    preflight = call(store.url, "OPTIONS", "/v2/keys/k")
    assert preflight.status == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    endless_url = raw(store.url, b"GET /v2/keys/" + b"a" * (2 << 20) + b" HTTP/1.1\r\n\r\n")
    assert endless_url.startswith(b"HTTP/1.1 414")
    garbage = raw(store.url, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")
    assert call(store.url, "GET", "/v2/keys/u").status == 200
    assert call(store.url, "GET", "/nowhere").status == 404


def test_pipelined_requests_are_answered_in_order(store: StoreServer) -> None:
    reqs = b"".join(
        b"PUT /v2/keys/p?value=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % i
        for i in range(5)
    )
    reqs += b"GET /v2/keys/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(store.url, reqs)
    assert out.count(b"HTTP/1.1 20") == 6
    assert out.rstrip().endswith(b'"value":"4","modifiedIndex":5,"createdIndex":5}}')
    then_garbage = raw(store.url, b"GET /v2/keys/p HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
    first, _, second = then_garbage.partition(b"HTTP/1.1 400 Bad Request\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in second


def test_info_endpoints(store: StoreServer) -> None:
    assert call(store.url, "GET", "/health").json == {"health": "true"}
    assert call(store.url, "GET", "/version").json["etcdserver"].startswith("3.4")
    members = call(store.url, "GET", "/v2/members").json["members"]
    assert members[0]["clientURLs"] == [store.url]
    assert call(store.url, "GET", "/v2/machines").body.decode() == store.url
    assert call(store.url, "GET", "/v2/stats/self").json["state"] == "StateLeader"
    assert "followers" in call(store.url, "GET", "/v2/stats/leader").json
    call(store.url, "PUT", "/v2/keys/k", form={"value": "v"})
    stats = call(store.url, "GET", "/v2/stats/store").json
    assert stats["setsSuccess"] == 1 and stats["watchers"] == 0


def test_expect_100_continue_is_answered_before_the_body(store: StoreServer) -> None:
    parts = urlsplit(store.url)
    body = b"value=" + b"e" * 2_000_000
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(
            b"PUT /v2/keys/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert s.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(64).startswith(b"HTTP/1.1 201 Created")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_client_that_does_not_read_its_answers_is_not_buffered_for(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/wide", form={"value": "w" * 16384})
    before = _rss_kib(store.pid)
    parts = urlsplit(store.url)
    request = b"GET /v2/keys/wide HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        sent = 0
        for _ in range(4000):  # ~64 MiB of answers asked for, none read
            try:
                sent += s.send(request)
            except BlockingIOError:
                break  # the server stopped reading: the backpressure we want
        assert call(store.url, "GET", "/v2/keys/wide").status == 200  # others still served
        grown = _rss_kib(store.pid) - before
    assert grown < 16 * 1024, f"server grew by {grown} KiB for a client that does not read"


def test_no_value_on_success_answers_the_action_only(store: StoreServer) -> None:
    a = call(store.url, "PUT", "/v2/keys/quiet", form={"value": "v", "noValueOnSuccess": "true"})
    assert a.status == 201 and a.body == b'{"action":"set"}\n'
    assert call(store.url, "GET", "/v2/keys/quiet").json["node"]["value"] == "v"
