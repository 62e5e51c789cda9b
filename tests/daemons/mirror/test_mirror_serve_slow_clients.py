"""`corral-mirror serve` against clients that send their requests slowly: a head dripped
a byte at a time is answered 408 and closed at `--header-timeout`, a connection that
sends nothing is closed then too, a body is never waited for, and none of them keeps
other clients from being served, even when they fill every place."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from mirror_http import exchange, read_response
from mirror_servers import MirrorServe
from mirror_setup import make_upstream

from corral.testing import sample, scrape, wait_until

BOUND = 2  # --header-timeout of these servers, in seconds
SLACK = 2.0  # a loaded CI machine's scheduling, on top of the bound
DRIP = 0.2  # seconds between two dripped bytes: the head is never late by a byte's gap
GET = b"GET /root.json HTTP/1.1\r\nHost: m\r\n\r\n"


def port_of(serve: MirrorServe) -> int:
    port = urllib.parse.urlsplit(serve.url).port
    assert port is not None
    return port


@pytest.fixture(scope="module")
def server(tmp_path_factory, keys) -> Iterator[MirrorServe]:
    tmp = tmp_path_factory.mktemp("slow")
    up = make_upstream(tmp, keys, payload_size=1000)
    serve = MirrorServe(up.dir, tmp / "serve.log", "--header-timeout", f"{BOUND}s").start()
    yield serve
    serve.stop()


def statuses(received: bytes) -> list[int]:
    """The statuses of the responses in `received` (aiohttp answers its errors HTTP/1.0)."""
    return [int(m) for m in re.findall(rb"^HTTP/1\.[01] (\d{3}) ", received, re.MULTILINE)]


def ask(port: int) -> int:
    """The status a fresh connection's GET gets; 0 if it is closed unanswered."""
    try:
        answers = exchange(port, [GET], timeout=2)
    except OSError:
        return 0
    return answers[0][0] if answers else 0


class Dripper:
    """A raw connection that sends `at_once`, then `head` one byte every DRIP seconds,
    then its tail forever, a byte at a time; it records what the server sent and when
    it closed."""

    def __init__(self, port: int, head: bytes, tail: bytes = b"a", at_once: bytes = b""
                 ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(at_once)  # a connection beyond the cap may be closed already
        self.opened = time.monotonic()
        self.closed_after: float | None = None
        self.received = b""
        self._pending = head
        self._tail = tail
        self._next = self.opened

    def step(self) -> None:
        """Read what came, then send the next byte when it is due."""
        if self.closed_after is not None:
            return
        if select.select([self.sock], [], [], 0)[0]:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            self.received += chunk
            if not chunk:
                self.closed_after = time.monotonic() - self.opened
                return
        if time.monotonic() >= self._next and (self._pending or self._tail):
            self._pending = self._pending or self._tail
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.sock.send(self._pending[:1])  # once closed, the next step reads the end
            self._pending = self._pending[1:]
            self._next += DRIP

    def close(self) -> None:
        self.sock.close()


def drip_until_closed(drippers: list[Dripper], port: int, within: float) -> list[int]:
    """Step `drippers` until all are closed or `within` seconds passed, asking the
    server for a file between steps; the statuses those requests got."""
    deadline = time.monotonic() + within
    served: list[int] = []
    while time.monotonic() < deadline and any(d.closed_after is None for d in drippers):
        for d in drippers:
            d.step()
        served.append(ask(port))
        time.sleep(0.05)
    return served


@pytest.mark.parametrize("start,answer", [
    (GET[:-2] + b"X-Slow: ", [408]),  # header fields that never end
    (b"GET /root.json", [408]),  # a request line that never ends
    (b"", []),  # nothing at all: closed without an answer
], ids=["header-fields", "request-line", "nothing"])
def test_a_dripped_head_is_closed_at_the_bound_while_others_are_served(server, start, answer):
    port = port_of(server)
    dripper = Dripper(port, b"", tail=b"a" if start else b"", at_once=start)
    try:
        served = drip_until_closed([dripper], port, BOUND + SLACK)
    finally:
        dripper.close()
    assert dripper.closed_after is not None, "the slow head still held its connection"
    assert BOUND - 0.2 < dripper.closed_after < BOUND + SLACK
    assert statuses(dripper.received) == answer, dripper.received
    assert served and set(served) == {200}  # the others were served meanwhile


def test_the_clock_runs_only_while_a_head_is_awaited(server):
    """An idle keep-alive connection outlives the bound; its next head has a clock of its
    own, started by its first byte."""
    port = port_of(server)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
            sock.makefile("rb") as f:
        sock.sendall(GET)
        assert read_response(f, head_only=False)[0] == 200  # type: ignore[index]
        time.sleep(BOUND + 0.5)  # idle, answered: the keep-alive timeout applies
        sock.sendall(GET)
        assert read_response(f, head_only=False)[0] == 200  # type: ignore[index]
    dripper = Dripper(port, b"GET /root.json", at_once=GET)
    try:
        drip_until_closed([dripper], port, BOUND + SLACK)
    finally:
        dripper.close()
    assert statuses(dripper.received) == [200, 408]


def test_a_body_is_not_waited_for(server):
    """GET and HEAD carry no body: a request that declares one is answered, and its
    connection closed at once, however slowly the body comes."""
    port = port_of(server)
    head = GET[:-2] + b"Content-Length: 100\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        started = time.monotonic()
        sock.sendall(head + b"x" + GET)  # one byte of the body, then another request
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                sock.send(b"x")  # the body, dripped
                time.sleep(DRIP)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed with a dripped byte unread
        took = time.monotonic() - started
    assert statuses(received) == [200]  # nothing after it is read
    assert took < 1.5, took  # aiohttp alone waits up to 10 s for the body


def test_drippers_beyond_every_place_are_dropped_and_clients_served_again(tmp_path, keys):
    up = make_upstream(tmp_path, keys, payload_size=1000)
    serve = MirrorServe(up.dir, tmp_path / "capped.log", "--max-connections", "4",
                        "--header-timeout", f"{BOUND}s").start()
    port = port_of(serve)
    drippers = [Dripper(port, b"", at_once=GET[:-2] + b"X-Slow: ") for _ in range(10)]
    try:

        def beyond_the_cap_closed() -> bool:
            for d in drippers:
                d.step()
            return sum(d.closed_after is None for d in drippers) <= 4

        wait_until(beyond_the_cap_closed, 5, "the connections beyond the cap closed")
        assert ask(port) == 0  # every place is held by a slow client
        refused = drip_until_closed(drippers, port, BOUND + SLACK)
        assert all(d.closed_after is not None and d.closed_after < BOUND + SLACK
                   for d in drippers), [d.closed_after for d in drippers]
        assert sorted(statuses(d.received) for d in drippers) == [[]] * 6 + [[408]] * 4
        assert 0 in refused  # while they held every place
        assert [a[0] for a in exchange(port, [GET, GET])] == [200, 200]
    finally:
        for d in drippers:
            d.close()
        serve.stop()


def test_a_client_that_stops_reading_is_dropped_at_the_minimum_pace(tmp_path, keys):
    """A file must be taken at --min-send-rate on average after --send-grace: a client
    that stops reading loses its connection then, while one that reads gets it all."""
    up = make_upstream(tmp_path, keys, payload_size=32 << 20)
    payload = max((p for p in up.dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    target = "/" + payload.relative_to(up.dir).as_posix()
    rate, grace = 8 << 20, 1  # 32 MiB: 4 s at the pace, 5 s with the grace
    serve = MirrorServe(up.dir, tmp_path / "serve.log", "--min-send-rate", str(rate),
                        "--send-grace", f"{grace}s").start()  # fmt: skip
    try:
        port = port_of(serve)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(f"GET {target} HTTP/1.1\r\nHost: m\r\n\r\n".encode())
        started = time.monotonic()
        with urllib.request.urlopen(serve.url + target, timeout=30) as whole:
            assert len(whole.read()) == payload.stat().st_size  # a reader is served
        time.sleep(max(0.0, grace + 4 + SLACK - (time.monotonic() - started)))
        received, closed = 0, False
        stalled.settimeout(5)
        with stalled, contextlib.suppress(ConnectionResetError):
            while chunk := stalled.recv(1 << 20):
                received += len(chunk)
            closed = True
        assert closed or received > 0
        assert received < payload.stat().st_size
        samples = scrape(serve.url + "/metrics")
        assert sample(samples, "corral_mirror_serve_slow_readers_total") == 1
        assert ask(port) == 200  # and the server goes on
    finally:
        serve.stop()
