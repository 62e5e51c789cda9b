"""Plain GETs answered at once (Api.answer_now, inside the HTTP parse callback) give
the same bytes as the general path, keep pipelined answers in order, and still never
show a write before it is durable."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from corral.store.api import Api, Cluster, HttpRequest, HttpResponse
from corral.store.embedded import EmbeddedBackend
from corral.store.http import _head
from corral.store.keys_request import KeysRequest
from corral.testing import StoreServer, wait_until

from .wire import call, raw


def _wire(resp: HttpResponse) -> bytes:
    """What the HTTP layer writes for `resp`, without its Date line."""
    head = _head(resp.status, resp.headers, b"", resp.raw_headers)
    return re.sub(rb"Date: [^\r]*\r\n", b"", head) + resp.body


def test_pipelined_reads_and_writes_are_answered_in_order(store: StoreServer) -> None:
    reqs = b"PUT /v2/keys/p?value=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    for i in range(1, 4):
        reqs += b"GET /v2/keys/p HTTP/1.1\r\nHost: x\r\n\r\n"
        reqs += b"PUT /v2/keys/p?value=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % i
    reqs += b"GET /v2/keys/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(store.url, reqs)
    values = re.findall(rb'"action":"(\w+)","node":\{"key":"/p","value":"(\d)"', out)
    assert values == [
        (b"set", b"0"), (b"get", b"0"), (b"set", b"1"), (b"get", b"1"),
        (b"set", b"2"), (b"get", b"2"), (b"set", b"3"), (b"get", b"3"),
    ]  # fmt: skip


def test_a_read_behind_a_long_poll_waits_for_its_answer(store: StoreServer) -> None:
    parts = urlsplit(store.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(b"GET /v2/keys/w?wait=true HTTP/1.1\r\nHost: x\r\n\r\n")

        def registered() -> bool:
            return bool(call(store.url, "GET", "/v2/stats/store").json["watchers"] == 1)

        wait_until(registered, 10, "the long poll to register")
        # sent while the long poll is still being served: its answer must come second
        s.sendall(b"GET /v2/keys/w HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        call(store.url, "PUT", "/v2/keys/w", form={"value": "v"})
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    actions = re.findall(rb'"action":"(\w+)"', out)
    assert actions == [b"set", b"get"]


def test_a_read_answered_now_is_the_general_answer_and_waits_when_it_must(
    tmp_path: Path,
) -> None:
    gate = threading.Event()

    async def main() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        api = Api(backend, Cluster("t", []))
        await backend.write(KeysRequest("PUT", "/seen", value="old"))
        await backend.write(KeysRequest("PUT", "/other", value="x"))
        for url in (b"/v2/keys/other", b"/v2/keys/missing", b"/v2/keys/other?recursive=true"):
            path, _, query = url.partition(b"?")
            fast = api.answer_now(HttpRequest("GET", path, query))
            general = await api.handle(HttpRequest("GET", path, query))
            assert fast is not None and isinstance(general, HttpResponse)
            assert _wire(fast) == _wire(general)
        # the general way for what needs it: a watch, a directory, an unclean path
        for path, query in [(b"/v2/keys/seen", b"wait=true"), (b"/v2/keys/", b""),
                            (b"/v2/keys/a/../seen", b"")]:  # fmt: skip
            assert api.answer_now(HttpRequest("GET", path, query)) is None

        real_commit = backend.disk.commit

        def gated_commit(*args: object) -> None:
            gate.wait(10)  # hold the fsync of the next batch until the test says so
            real_commit(*args)  # type: ignore[arg-type]

        backend.disk.commit = gated_commit  # type: ignore[method-assign]
        backend.inline_commit_max = 0  # on the disk thread, so the loop runs meanwhile
        try:
            writing = asyncio.create_task(backend.write(KeysRequest("PUT", "/seen", value="new")))
            for _ in range(5000):
                if backend.committing:
                    break
                await asyncio.sleep(0.001)
            assert backend.committing
            # the key being written could show the undurable value: not answered now
            assert api.answer_now(HttpRequest("GET", b"/v2/keys/seen")) is None
            other = api.answer_now(HttpRequest("GET", b"/v2/keys/other"))
            assert other is not None and b"X-Etcd-Index: 2\r\n" in other.raw_headers
            gate.set()
            await asyncio.wait_for(writing, 5)
            seen = api.answer_now(HttpRequest("GET", b"/v2/keys/seen"))
            assert seen is not None and b'"value":"new"' in seen.body
        finally:
            gate.set()
            await backend.stop()

    asyncio.run(main())
