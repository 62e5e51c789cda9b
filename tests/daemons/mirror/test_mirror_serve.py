"""`corral-mirror serve` answers every request target with 2xx/4xx, never a 500, and
keeps its header and URL limits (431/414)."""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from mirror_http import exchange, get
from mirror_servers import MirrorServe
from mirror_setup import make_upstream

from corral.mirror.request_target import MAX_TARGET
from corral.mirror.serve_limits import MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE
from corral.testing import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory, keys) -> Iterator[MirrorServe]:
    tmp = tmp_path_factory.mktemp("serve")
    up = make_upstream(tmp, keys, payload_size=1000)
    (up.dir / ".corral-mirror").mkdir(exist_ok=True)
    (up.dir / ".corral-mirror" / "secret").write_text("x")
    serve = MirrorServe(up.dir, tmp / "serve.log").start()
    serve.port = urllib.parse.urlsplit(serve.url).port  # type: ignore[attr-defined]
    yield serve
    serve.stop()


@pytest.mark.parametrize("target,status", [
    (b"/root.json", 200),
    (b"/channels/stable/release.json", 200),
    (b"/%00", 400),
    (b"/root.json%00.txt", 400),
    (b"/%ff%fe", 400),
    (b"/%c0%af", 400),  # an over-long UTF-8 '/'
    (b"/a/../root.json", 400),
    (b"/%2e%2e/%2e%2e/etc/passwd", 400),
    (b"/channels/./stable/release.json", 400),
    (b"//root.json", 400),
    (b"/channels%2f..%2f..%2fetc", 400),
    (b"/%0d%0aSet-Cookie:x", 400),
    (b"http://m/root.json", 400),  # absolute form: not a proxy
    (b"/", 404),
    (b"/.corral-mirror/secret", 404),
    (b"/%2ecorral-mirror/secret", 404),
    (b"/" + b"a" * 300, 404),  # longer than any file name
    (b"/" + b"a/" * 2000 + b"b", 404),  # 4001 bytes: deep, allowed, absent
    (b"/" + b"a" * MAX_TARGET, 414),
    (b"/" + b"a" * 9000, 414),  # beyond aiohttp's own line limit (400 there) too
])
def test_request_targets(server, target, status):
    answers = exchange(server.port, [get(target)])
    assert [a[0] for a in answers] == [status]


def status_before_the_end(port: int, start: bytes) -> int | None:
    """The status answered to `start`, a head not yet ended; None if none within 1 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(start)
        try:
            return int(sock.recv(100).split()[1])
        except TimeoutError:
            return None


def test_request_line_limit_answers_414_as_soon_as_it_is_crossed(server):
    # M-SEARCH is answered 405 before its target is looked at: the line is let through
    at_limit = b"M-SEARCH /" + b"a" * (MAX_REQUEST_LINE - len(b"M-SEARCH / HTTP/1.1"))
    line = at_limit + b" HTTP/1.1"
    assert len(line) == MAX_REQUEST_LINE
    assert exchange(server.port, [line + b"\r\nHost: m\r\n\r\n"])[0][0] == 405
    over = b"M-SEARCH /a" + line[len(b"M-SEARCH /"):]
    assert exchange(server.port, [over + b"\r\nHost: m\r\n\r\n"])[0][0] == 414
    assert status_before_the_end(server.port, b"GET /" + b"a" * MAX_REQUEST_LINE) == 414
    assert status_before_the_end(server.port, line) is None


def test_header_limits_answer_431(server):
    host = b"Host: m\r\n"  # get() sends it first
    fits = [b"X-%d: y" % i for i in range(MAX_HEADERS - 1)]
    assert exchange(server.port, [get(b"/root.json", *fits)])[0][0] == 200
    assert exchange(server.port, [get(b"/root.json", *fits, b"X: y")])[0][0] == 431
    fill = b"X-Fill: " + b"y" * (MAX_HEADER_BYTES - len(host) - len(b"X-Fill: \r\n"))
    assert exchange(server.port, [get(b"/root.json", fill)])[0][0] == 200
    assert exchange(server.port, [get(b"/root.json", fill + b"y")])[0][0] == 431
    # one line over aiohttp's own 8190-byte field limit (400 there), and one never ended
    assert exchange(server.port, [get(b"/root.json", b"X: " + b"y" * 9000)])[0][0] == 431
    endless = get(b"/root.json")[:-2] + fill + b"y"
    assert status_before_the_end(server.port, endless) == 431
    assert status_before_the_end(server.port, endless[:-1]) is None


def test_methods_and_pipelining(server):
    answers = exchange(server.port, [
        get(b"/root.json", method=b"HEAD"), get(b"/%00"), get(b"/root.json"),
        get(b"/root.json", method=b"POST"), get(b"/root.json", b"Connection: close"),
    ])
    assert [a[0] for a in answers] == [200, 400, 200, 405, 200]
    assert answers[0][2] == b""


def test_no_traceback_in_the_log(server):
    exchange(server.port, [get(b"/%00"), get(b"/" + b"a" * 9000)])
    assert "Traceback" not in server.log_text()
    assert server.alive()


def test_connections_beyond_the_cap_are_closed_and_the_rest_served(tmp_path, keys):
    up = make_upstream(tmp_path, keys, payload_size=1000)
    serve = MirrorServe(up.dir, tmp_path / "capped.log", "--max-connections", "3").start()
    port = urllib.parse.urlsplit(serve.url).port
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(get(b"/root.json"))
            try:
                answer = extra.recv(100)
            except ConnectionResetError:  # closed with the request unread
                answer = b""
            assert answer == b""  # closed at once, not answered
        held[0].sendall(get(b"/root.json"))  # the connections within the cap are served
        assert held[0].recv(100).startswith(b"HTTP/1.1 200 ")
        held.pop().close()

        def served() -> bool:  # once the server has seen the close, a place is free
            try:
                return [a[0] for a in exchange(port, [get(b"/root.json")])] == [200]
            except OSError:
                return False

        wait_until(served, 10, "a freed place")
    finally:
        for sock in held:
            sock.close()
        serve.stop()


def test_idle_and_stalled_connections_are_closed_after_the_keepalive_timeout(tmp_path, keys):
    up = make_upstream(tmp_path, keys, payload_size=1000)
    serve = MirrorServe(up.dir, tmp_path / "idle.log", "--keepalive-timeout", "1s").start()
    port = urllib.parse.urlsplit(serve.url).port
    try:
        for first in (b"", get(b"/root.json"), b"GET /root.json HTTP/1.1\r\nHo"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                started = time.monotonic()
                sock.sendall(first)
                while sock.recv(65536):
                    pass  # the answer, if any, then the close
                assert 0.5 < time.monotonic() - started < 5, first
    finally:
        serve.stop()
