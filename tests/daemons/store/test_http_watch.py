"""Long polls over HTTP: woken by writes, from history, 401, streams, disconnects."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from urllib.parse import urlsplit

from corral.testing import StoreServer, wait_until

from .wire import call


def watchers(store: StoreServer) -> int:
    return int(call(store.url, "GET", "/v2/stats/store").json["watchers"])


def start_watch(url: str, path: str) -> socket.socket:
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def read_chunks(s: socket.socket, count: int) -> list[dict]:
    """Read the response head and `count` chunked JSON events."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"Transfer-Encoding: chunked" in head
    events = []
    while len(events) < count:
        while b"\r\n" not in buf:
            buf += s.recv(65536)
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line, 16)
        while len(buf) < size + 2:
            buf += s.recv(65536)
        events.append(json.loads(buf[:size]))
        buf = buf[size + 2 :]
    return events


def test_wait_is_woken_by_the_write(store: StoreServer) -> None:
    s = start_watch(store.url, "/v2/keys/k?wait=true")
    with s:
        wait_until(lambda: watchers(store) == 1, 10, "the watch to register")
        call(store.url, "PUT", "/v2/keys/k", form={"value": "v"})
        (event,) = read_chunks(s, 1)
    assert event["action"] == "set" and event["node"]["value"] == "v"


def test_wait_index_from_history_and_cleared_history(store: StoreServer) -> None:
    for i in range(1005):
        call(store.url, "PUT", "/v2/keys/k", form={"value": str(i)})
    old = call(store.url, "GET", "/v2/keys/k", query={"wait": "true", "waitIndex": "5"})
    assert (old.status, old.json["errorCode"]) == (400, 401)
    assert old.json["cause"] == "the requested history has been cleared [6/5]"
    assert old.json["index"] == 1005
    recent = call(store.url, "GET", "/v2/keys/k", query={"wait": "true", "waitIndex": "1000"})
    assert recent.status == 200 and recent.json["node"]["value"] == "999"


def test_recursive_stream_watch_gets_every_event(store: StoreServer) -> None:
    s = start_watch(store.url, "/v2/keys/d?wait=true&recursive=true&stream=true")
    with s:
        wait_until(lambda: watchers(store) == 1, 10, "the watch to register")
        for i in range(3):
            call(store.url, "PUT", f"/v2/keys/d/k{i}", form={"value": str(i)})
        events = read_chunks(s, 3)
    assert [e["node"]["key"] for e in events] == ["/d/k0", "/d/k1", "/d/k2"]


def test_a_client_that_goes_away_takes_its_watcher_with_it(store: StoreServer) -> None:
    s = start_watch(store.url, "/v2/keys/k?wait=true")
    wait_until(lambda: watchers(store) == 1, 10, "the watch to register")
    s.close()
    wait_until(lambda: watchers(store) == 0, 10, "the watcher to be removed")


def test_ttl_expiry_wakes_a_watcher(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/t", form={"value": "v", "ttl": "1"})
    a = call(store.url, "GET", "/v2/keys/t", query={"wait": "true"}, timeout=10)
    assert a.json["action"] == "expire"
    assert a.json["node"]["modifiedIndex"] == 2
    assert call(store.url, "GET", "/v2/keys/t").status == 404


def test_hundreds_of_long_polls_are_all_woken_by_one_write(store: StoreServer) -> None:
    count = 400
    parts = urlsplit(store.url)

    async def one(ready: asyncio.Event) -> dict:
        r, w = await asyncio.open_connection(parts.hostname, parts.port)
        w.write(b"GET /v2/keys/fan?wait=true HTTP/1.1\r\nHost: x\r\n\r\n")
        await r.readuntil(b"\r\n\r\n")
        size = int((await r.readuntil(b"\r\n"))[:-2], 16)
        body = await r.readexactly(size)
        w.close()
        return json.loads(body)

    async def main() -> list[dict]:
        ready = asyncio.Event()
        tasks = [asyncio.create_task(one(ready)) for _ in range(count)]
        await asyncio.to_thread(
            wait_until, lambda: watchers(store) == count, 20, "every watch to register"
        )
        await asyncio.to_thread(call, store.url, "PUT", "/v2/keys/fan", {"value": "go"})
        return await asyncio.wait_for(asyncio.gather(*tasks), 20)

    events = asyncio.run(main())
    assert len(events) == count
    assert all(e["node"]["value"] == "go" for e in events)


def test_sigterm_ends_long_polls_and_exits_cleanly(store: StoreServer) -> None:
    s = start_watch(store.url, "/v2/keys/k?wait=true")
    wait_until(lambda: watchers(store) == 1, 10, "the watch to register")
    done = threading.Event()

    def drain() -> None:
        with s:
            while s.recv(65536):
                pass
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    assert store.stop(timeout=10) == 0
    assert done.wait(10), "the long poll was not closed"
    assert "stopped" in store.log_text()


def test_a_stream_reader_that_stops_reading_is_dropped(store: StoreServer) -> None:
    s = start_watch(store.url, "/v2/keys/s?wait=true&stream=true")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with s:  # never read from it
        wait_until(lambda: watchers(store) == 1, 10, "the watch to register")
        value = "v" * 65536
        for _ in range(300):
            call(store.url, "PUT", "/v2/keys/s", form={"value": value})
            if watchers(store) == 0:
                break
        assert watchers(store) == 0
    assert call(store.url, "GET", "/health").status == 200


def test_a_quorum_wait_is_a_plain_get_as_in_etcd(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/q", form={"value": "1"})
    a = call(store.url, "GET", "/v2/keys/q", query={"wait": "true", "quorum": "true"})
    assert a.json["action"] == "get" and a.json["node"]["value"] == "1"
