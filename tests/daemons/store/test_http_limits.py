"""What one client can make the store hold or read is bounded, and crossing a bound is
answered at once, then the connection is closed (corral.store.limits): etcd's 431 for
headers beyond 1 MiB, 414 for a longer request line, error 210 for a body beyond 10
MiB whether chunked or not (as etcd's), error 210 for more than 10,000 parameters.
A client that keeps sending after that is no longer read: memory stays bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from corral.store.limits import BODY_BYTES, FORM_PARAMS, HEADER_BYTES, URL_BYTES
from corral.testing import StoreServer

from .http_exchange import Answer, parse_answer
from .wire import Answer as WireAnswer
from .wire import call

PIECE = b"a" * (1 << 16)
FORM_TYPE = "application/x-www-form-urlencoded"
FORM = b"Content-Type: " + FORM_TYPE.encode() + b"\r\n"


def raw_form(url: str, path: str, body: bytes) -> WireAnswer:
    """A PUT with `body` sent as a form, exactly as given."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("PUT", path, body=body, headers={"Content-Type": FORM_TYPE})
        resp = conn.getresponse()
        return WireAnswer(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1])


def flood(url: str, head: bytes, piece: bytes, most: int) -> tuple[Answer, int, bool]:
    """Send `head`, then `piece` over and over (at most `most` bytes) until the server
    answers; (the answer, bytes sent, whether the server then closed)."""
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=5)
    s.setblocking(False)
    out, sent, buf = memoryview(head), 0, b""
    deadline = time.monotonic() + 20
    try:
        while (parsed := parse_answer(buf, False)) is None:
            assert time.monotonic() < deadline, f"no answer after {sent} bytes"
            if not out and sent < most:
                out = memoryview(piece)
            readable, writable, _ = select.select([s], [s] if out else [], [], 1)
            if writable:
                try:
                    n = s.send(out)
                except (BrokenPipeError, ConnectionResetError):
                    out = out[:0]
                    most = 0
                else:
                    out, sent = out[n:], sent + n
            if readable:
                data = s.recv(1 << 16)
                assert data, f"closed without an answer after {sent} bytes"
                buf += data
        answer, _ = parsed
        closed = False  # the server closes within its linger time (2 s)
        if not answer.closes:
            return answer, sent, closed
        s.setblocking(True)
        s.settimeout(5)
        try:
            while s.recv(1 << 16):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            pass
        return answer, sent, closed
    finally:
        s.close()


def test_header_bytes_past_the_limit_get_431(store: StoreServer) -> None:
    before = rss_kib(store.pid)
    for _ in range(4):
        head = b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-Big: "
        answer, sent, closed = flood(store.url, head, PIECE, 100 << 20)
        assert answer.status == 431
        assert answer.body == b"431 Request Header Fields Too Large\n"
        assert answer.closes and closed
        assert sent < HEADER_BYTES + (16 << 20), "read far past the limit before answering"
    assert rss_kib(store.pid) - before < 32 << 10  # KiB: 4 x 100 MB sent, not kept
    # many header lines count as much as one long one
    lines = b"X-Many: " + b"m" * 100 + b"\r\n"
    answer, _, _ = flood(store.url, b"GET /v2/keys/a HTTP/1.1\r\n", lines, 20 << 20)
    assert answer.status == 431
    # just below the limit is served
    head = b"GET /v2/keys/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * (HEADER_BYTES - 100)
    answer, _, _ = flood(store.url, head + b"\r\n\r\n", b"", 0)
    assert answer.status == 200


def test_a_request_line_past_the_limit_gets_414(store: StoreServer) -> None:
    answer, _, closed = flood(store.url, b"GET /v2/keys/", PIECE, 100 << 20)
    assert answer.status == 414
    assert answer.body == b"414 URI Too Long\n"
    assert answer.closes and closed
    # a value in the query string just below the limit is taken
    query = b"value=" + b"q" * (URL_BYTES - 100)
    answer, _, _ = flood(store.url, b"PUT /v2/keys/q?" + query + b" HTTP/1.1\r\n\r\n", b"", 0)
    assert answer.status == 201
    assert call(store.url, "GET", "/health").status == 200


def test_an_endless_chunked_body_is_refused_while_it_streams(store: StoreServer) -> None:
    head = b"PUT /v2/keys/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + FORM + b"\r\n"
    chunk = b"%x\r\n%s\r\n" % (len(PIECE), PIECE)
    started = time.monotonic()
    answer, sent, closed = flood(store.url, head, chunk, 1 << 40)
    assert time.monotonic() - started < 5
    assert answer.status == 400
    assert b'"errorCode":210' in answer.body and b"http: POST too large" in answer.body
    assert answer.closes and closed
    assert sent < BODY_BYTES + (16 << 20)
    assert call(store.url, "GET", "/v2/keys/a").status == 404  # nothing was written


def test_a_long_body_is_refused_before_it_is_read_whole(store: StoreServer) -> None:
    for content_type in (FORM, b"Content-Type: application/octet-stream\r\n", b""):
        head = b"PUT /v2/keys/b?value=x HTTP/1.1\r\nContent-Length: 100000000\r\n"
        answer, sent, closed = flood(store.url, head + content_type + b"\r\n", PIECE, 10**8)
        assert answer.status == 400, answer.body
        assert b'"errorCode":210' in answer.body
        assert answer.closes and closed
        assert sent < BODY_BYTES + (16 << 20), "the whole body was read first"
    assert call(store.url, "GET", "/v2/keys/b").status == 404
    # a body of just the limit is taken: a value of 10 MiB less its name
    body = b"value=" + b"v" * (BODY_BYTES - 6)
    head = b"PUT /v2/keys/c HTTP/1.1\r\nContent-Length: %d\r\n" % len(body) + FORM + b"\r\n"
    answer, _, _ = flood(store.url, head + body, b"", 0)
    assert answer.status == 201
    # other routes answer Go's MaxBytesReader refusal
    head = b"PUT /v2/auth/users/u HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n"
    answer, _, _ = flood(store.url, head, PIECE, 10**8)
    assert answer.status == 413


def test_more_parameters_than_the_limit_are_refused(store: StoreServer) -> None:
    many = "&".join(["sorted=true"] * FORM_PARAMS)
    assert call(store.url, "GET", "/v2/keys/", query=many).status == 200
    refused = call(store.url, "GET", "/v2/keys/", query=many + "&x")
    assert refused.status == 400
    assert refused.json["errorCode"] == 210
    assert refused.json["cause"] == f"more than {FORM_PARAMS} parameters"
    body = "&".join(["value=v"] * (FORM_PARAMS + 1)).encode()
    answer = call(store.url, "PUT", "/v2/keys/p", body=body, query="")
    assert answer.status == 201  # not a form: the body is not parsed
    form = call(store.url, "PUT", "/v2/keys/p", form={"value": "v"}, query="")
    assert form.status == 200
    crowded = raw_form(store.url, "/v2/keys/p", body)
    assert crowded.json["errorCode"] == 210


def test_the_limits_follow_their_flags(tmp_path: Path) -> None:
    flags = [
        "--max-header-bytes", "4096", "--max-request-line-bytes", "2048",
        "--max-request-bytes", "1000", "--max-key-bytes", "100", "--max-key-depth", "3",
    ]  # fmt: skip
    store = StoreServer(tmp_path / "store", flags).start()
    try:
        url = store.url
        head = b"GET /v2/keys/a HTTP/1.1\r\nX-Big: "
        assert flood(url, head, b"h" * 1024, 1 << 20)[0].status == 431
        assert flood(url, b"GET /v2/keys/", b"u" * 1024, 1 << 20)[0].status == 414
        head = b"PUT /v2/keys/a HTTP/1.1\r\nContent-Length: 5000\r\n" + FORM + b"\r\n"
        assert flood(url, head, b"value=" + b"v" * 4994, 5000)[0].status == 400
        assert call(url, "PUT", "/v2/keys/a/b/c", form={"value": "v"}).status == 201
        assert call(url, "PUT", "/v2/keys/a/b/c/d", form={"value": "v"}).json["errorCode"] == 209
        assert call(url, "PUT", "/v2/keys/" + "k" * 100, form={"value": "v"}).status == 400
    finally:
        store.stop()


def test_connections_past_the_limit_get_503(tmp_path: Path) -> None:
    store = StoreServer(tmp_path / "store", ["--max-connections", "3"]).start()
    parts = urlsplit(store.url)
    held: list[socket.socket] = []
    try:
        for _ in range(3):  # served, and kept open
            s = socket.create_connection((parts.hostname, parts.port), timeout=5)
            s.sendall(b"GET /v2/keys/ HTTP/1.1\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(s)
        answer, _, closed = flood(store.url, b"GET /v2/keys/ HTTP/1.1\r\n\r\n", b"", 0)
        assert answer.status == 503 and answer.body == b"too many connections\n"
        assert answer.closes and closed
        held.pop().close()
        deadline = time.monotonic() + 5
        while (answer := flood(store.url, b"GET /v2/keys/ HTTP/1.1\r\n\r\n", b"", 0)[0]).status:
            if answer.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert answer.status == 200
    finally:
        for s in held:
            s.close()
        store.stop()


def test_pipelined_requests_are_not_read_far_ahead(store: StoreServer) -> None:
    """Requests queued behind a long poll: the server stops reading at 16 MiB of them,
    where it read all 64 a connection may pipeline (640 MiB at 10 MiB each)."""
    parts = urlsplit(store.url)
    body = b"value=" + b"v" * ((5 << 20) - 6)
    put = b"PUT /v2/keys/p HTTP/1.1\r\nContent-Length: %d\r\n" % len(body) + FORM + b"\r\n"
    data = b"GET /v2/keys/w?wait=true HTTP/1.1\r\n\r\n" + (put + body) * 12  # 60 MiB
    before = rss_kib(store.pid)
    s = socket.create_connection((parts.hostname, parts.port), timeout=5)
    s.setblocking(False)
    out, buf = memoryview(data), b""
    try:
        while out and select.select([], [s], [], 1)[1]:  # until the server stops reading
            with contextlib.suppress(BlockingIOError):
                out = out[s.send(out) :]
        sent = len(data) - len(out)
        assert sent < 45 << 20, f"{sent} bytes read ahead of a long poll"
        assert rss_kib(store.pid) - before < 48 << 10
        assert call(store.url, "PUT", "/v2/keys/w", form={"value": "go"}).status == 201
        answers: list[Answer] = []
        deadline = time.monotonic() + 30
        while len(answers) < 13:
            assert time.monotonic() < deadline, f"{len(answers)} answers"
            readable, writable, _ = select.select([s], [s] if out else [], [], 1)
            if writable:
                with contextlib.suppress(BlockingIOError):
                    out = out[s.send(out) :]
            if readable:
                buf += s.recv(1 << 20)
                while (parsed := parse_answer(buf, False)) is not None:
                    answers.append(parsed[0])
                    buf = buf[parsed[1] :]
        assert [a.status for a in answers] == [200] + [201] + [200] * 11
    finally:
        s.close()
