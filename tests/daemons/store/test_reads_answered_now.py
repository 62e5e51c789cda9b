"""Plain GETs answered at once (by `Api.dispatch`, inside the HTTP parse callback) give
the same bytes as the general path, keep pipelined answers in order, and still never
show a write before it is durable; a plain write's pending answer comes from its
commit, once durable."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from corral.store.api import Answer, Api, Cluster, HttpRequest, HttpResponse, Pending
from corral.store.embedded import EmbeddedBackend
from corral.store.http import _head
from corral.store.keys_request import KeysRequest
from corral.testing import StoreServer, wait_until

from .wire import call, raw


def _wire(resp: HttpResponse) -> bytes:
    """What the HTTP layer writes for `resp`, without its Date line."""
    head = _head(resp.status, resp.headers, b"", resp.raw_headers)
    return re.sub(rb"Date: [^\r]*\r\n", b"", head) + resp.body


def _general(url: bytes) -> bytes:
    """The same request with its key's first letter escaped: the general way."""
    head, sep, key = url.partition(b"/v2/keys/")
    return b"%s%s%%%02X%s" % (head, sep, key[0], key[1:])


async def _answer(api: Api, req: HttpRequest) -> Answer:
    answer = api.dispatch(req)
    return await answer.answer() if isinstance(answer, Pending) else answer


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
            fast = api.dispatch(HttpRequest("GET", path, query))
            general = api.dispatch(HttpRequest("GET", _general(path), query))
            assert isinstance(fast, HttpResponse) and isinstance(general, Pending)
            assert general.in_task
            assert _wire(fast) == _wire(await general.answer())  # type: ignore[arg-type]
        # the general way for what needs it: a watch, a directory, an unclean path
        for path, query in [(b"/v2/keys/seen", b"wait=true"), (b"/v2/keys/", b""),
                            (b"/v2/keys/a/../seen", b"")]:  # fmt: skip
            assert isinstance(api.dispatch(HttpRequest("GET", path, query)), Pending)

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
            # the key being written could show the undurable value: not answered now,
            # but once the write is durable
            waiting = api.dispatch(HttpRequest("GET", b"/v2/keys/seen"))
            assert isinstance(waiting, Pending)
            read = asyncio.create_task(waiting.answer())
            other = api.dispatch(HttpRequest("GET", b"/v2/keys/other"))
            assert isinstance(other, HttpResponse)
            assert b"X-Etcd-Index: 2\r\n" in other.raw_headers
            await asyncio.sleep(0.05)
            assert not read.done()
            gate.set()
            await asyncio.wait_for(writing, 5)
            answered = await asyncio.wait_for(read, 5)
            assert isinstance(answered, HttpResponse) and b'"value":"new"' in answered.body
            seen = api.dispatch(HttpRequest("GET", b"/v2/keys/seen"))
            assert isinstance(seen, HttpResponse) and b'"value":"new"' in seen.body
        finally:
            gate.set()
            await backend.stop()

    asyncio.run(main())


def test_a_plain_write_is_answered_by_its_commit_once_durable(tmp_path: Path) -> None:
    gate = threading.Event()

    async def main() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        api = Api(backend, Cluster("t", []))
        real_commit = backend.disk.commit

        def gated_commit(*args: object) -> None:
            gate.wait(10)  # hold the fsync until the test says so
            real_commit(*args)  # type: ignore[arg-type]

        backend.disk.commit = gated_commit  # type: ignore[method-assign]
        backend.inline_commit_max = 0  # on the disk thread, so the loop runs meanwhile
        try:
            put = HttpRequest("PUT", b"/v2/keys/k", b"value=v")
            pending = api.dispatch(put)
            assert isinstance(pending, Pending) and not pending.in_task
            answers: list[Answer] = []
            pending.then(answers.append)
            for _ in range(5000):
                if backend.committing:
                    break
                await asyncio.sleep(0.001)
            assert backend.committing and answers == []  # not before it is durable
            gate.set()
            for _ in range(5000):
                if answers:
                    break
                await asyncio.sleep(0.001)
            [resp] = answers
            assert isinstance(resp, HttpResponse) and resp.status == 201
            # the bytes the general way gives for the same write of another new key
            general = await _answer(api, HttpRequest("PUT", _general(b"/v2/keys/j"), b"value=v"))
            assert isinstance(general, HttpResponse)

            def shape(r: HttpResponse) -> bytes:
                return re.sub(rb"\d+", b"N", _wire(r).replace(b'"/k"', b'"/j"'))

            assert shape(resp) == shape(general)
            refused = api.dispatch(HttpRequest("PUT", b"/v2/keys/k", b"prevExist=maybe"))
            assert isinstance(refused, HttpResponse) and refused.status == 400
        finally:
            gate.set()
            await backend.stop()

    asyncio.run(main())
