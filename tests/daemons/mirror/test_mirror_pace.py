"""A slow upstream cannot hold a sync: the transfer's pace (min rate, deadline) is kept.

The upstream is a real HTTP server on 127.0.0.1 that serves the mirror's files but
drips one of them a byte at a time, in its body or in its status line.
"""

from __future__ import annotations

import fcntl
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mirror_setup import Upstream, make_upstream

from corral.mirror.cli import main
from corral.mirror.fetch import HttpFetcher
from corral.mirror.pace import Pace
from corral.trust import SlowRetrieval

FAST = ["--min-rate", "1k", "--rate-grace", "1s", "--document-deadline", "1s"]


class DripServer:
    """Serves `directory`; a path containing `drip` is sent one byte per `every` seconds,
    from its status line (`where="status"`) or from its body (`where="body"`)."""

    def __init__(self, directory: Path, drip: str, where: str, every: float) -> None:
        self.directory, self.drip, self.where, self.every = directory, drip, where, every
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ")[1].decode().lstrip("/")
            file = self.directory / path
            if not file.is_file():
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            body = file.read_bytes()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            try:
                if self.drip not in path:
                    conn.sendall(head + body)
                elif self.where == "status":
                    self._drip(conn, head + body)
                else:
                    conn.sendall(head)
                    self._drip(conn, body)
            except OSError:
                return  # the client gave up: what the tests want

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            if self.stop.wait(self.every):
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def upstream(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys, payload_size=64 << 10)


@pytest.fixture
def drip(upstream) -> Iterator[type[DripServer]]:
    servers: list[DripServer] = []

    def start(drip: str, where: str, every: float) -> DripServer:
        servers.append(DripServer(upstream.dir, drip, where, every))
        return servers[-1]

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def sync(server: DripServer, mirror: Path, keys, *flags: str) -> tuple[int, float]:
    started = time.monotonic()
    rc = main(["sync", str(mirror), server.url, "--key", keys.alice, "--threshold", "1",
               *flags])
    return rc, time.monotonic() - started


def lock_is_free(mirror: Path) -> bool:
    with open(mirror / ".corral-mirror" / "lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def test_payload_dripping_a_byte_every_2s_is_abandoned(tmp_path, keys, drip, capsys):
    server = drip("pool/", "body", 2.0)
    mirror = tmp_path / "mirror"
    rc, took = sync(server, mirror, keys, *FAST)
    err = capsys.readouterr().err
    assert rc == 4, err
    assert took < 6
    assert "too slow" in err and "under the minimum average of 1024 bytes/s" in err
    assert not list(mirror.glob(".corral-mirror/partial/*"))  # partial download removed
    assert not list(mirror.glob("pool/*/*"))  # nothing visible
    assert not (mirror / "channels").exists()
    assert lock_is_free(mirror)


@pytest.mark.parametrize("target", ["root.json", "channels/stable/release.json", "pool/"])
def test_status_line_dripping_a_byte_every_5s_is_abandoned(tmp_path, keys, drip, capsys,
                                                           target):
    server = drip(target, "status", 5.0)
    mirror = tmp_path / "mirror"
    rc, took = sync(server, mirror, keys, *FAST)
    err = capsys.readouterr().err
    assert rc == 4, err
    assert took < 6
    assert "too slow" in err
    assert lock_is_free(mirror)
    assert not list(mirror.glob(".corral-mirror/partial/*"))


def test_a_payload_must_end_by_its_deadline_even_at_the_minimum_rate(tmp_path, upstream):
    # 64 KiB at 1 KiB/s plus 1 s of grace: 65 s; the upstream keeps 2 KiB/s but the
    # declared size is what it is, so a fast-enough drip still ends; a slower one not
    pace = Pace(min_rate=1024, grace=1, document_deadline=1)
    assert pace.deadline(64 << 10) == 65
    assert pace.verdict(64 << 10, 64.0, 64 << 10) is None
    assert "deadline" in (pace.verdict(64 << 10, 66.0, 64 << 10) or "")
    assert pace.verdict(0, 0.9, 64 << 10) is None  # within the grace period
    assert "minimum average" in (pace.verdict(1000, 1.5, 64 << 10) or "")
    assert "deadline for document" in (pace.verdict(10, 1.5, None) or "")


def test_a_fast_upstream_passes_with_the_same_small_limits(tmp_path, keys, drip, capsys):
    server = drip("nothing-drips", "body", 2.0)
    mirror = tmp_path / "mirror"
    rc, _ = sync(server, mirror, keys, *FAST)
    assert rc == 0, capsys.readouterr().err
    assert len(list(mirror.glob("pool/*/*"))) == 1


def test_the_client_library_raises_slow_retrieval(tmp_path, drip):
    server = drip("root.json", "status", 5.0)
    fetcher = HttpFetcher(server.url, pace=Pace(min_rate=1024, grace=1, document_deadline=1))
    started = time.monotonic()
    with pytest.raises(SlowRetrieval, match=r"root\.json: too slow"):
        fetcher.document("root.json", 1 << 20)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("flag,value", [("--min-rate", "0"), ("--min-rate", "fast"),
                                        ("--rate-grace", "soon")])
def test_bad_pace_flags_are_refused(tmp_path, flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sync", str(tmp_path / "m"), "http://127.0.0.1:1", flag, value])
    assert exc.value.code == 2
    assert "bad" in capsys.readouterr().err
