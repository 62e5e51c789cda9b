"""`corral-mirror serve` in production: /metrics scraped on its own listener (requests
by code, bytes sent, open connections), READY/WATCHDOG/STOPPING on a real NOTIFY_SOCKET, and
journald-native or JSON log lines."""

from __future__ import annotations

import json
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mirror_http import exchange, get
from mirror_servers import MirrorServe
from mirror_setup import make_upstream

from corral.testing import sample, scrape, systemd_stand_in, wait_until


@pytest.fixture
def mirror_dir(tmp_path, keys) -> Path:
    return make_upstream(tmp_path, keys, payload_size=1000).dir


@pytest.fixture
def server(mirror_dir: Path, tmp_path: Path) -> Iterator[MirrorServe]:
    serve = MirrorServe(mirror_dir, tmp_path / "serve.log").start()
    serve.port = urllib.parse.urlsplit(serve.url).port  # type: ignore[attr-defined]
    yield serve
    serve.stop()


def test_requests_bytes_and_connections_are_counted(server: MirrorServe) -> None:
    url = server.url.rstrip("/") + "/metrics"
    before = scrape(url)
    assert sample(before, "process_resident_memory_bytes")
    assert sample(before, "corral_mirror_serve_requests_total", code="200") is None
    answers = exchange(server.port, [  # type: ignore[attr-defined]
        get(b"/root.json"), get(b"/root.json", b"Range: bytes=0-9"), get(b"/nothing"),
        get(b"/%00"), get(b"/root.json", method=b"POST"),
    ])
    assert [a[0] for a in answers] == [200, 206, 404, 400, 405]
    body = len(answers[0][2]) + len(answers[1][2])
    with socket.create_connection(("127.0.0.1", server.port)):  # type: ignore[attr-defined]
        # an idle client, plus the scrape's own connection
        wait_until(lambda: sample(scrape(url), "corral_mirror_serve_open_connections") == 2,
                   5, "two open connections")  # fmt: skip
    after = scrape(url)
    for code in ("200", "206", "404", "400", "405"):
        # 200s: root.json, and the scrapes before this one
        least = 1 if code != "200" else 1 + 1
        got = sample(after, "corral_mirror_serve_requests_total", code=code)
        assert got is not None and got >= least, (code, got)
    assert sample(after, "corral_mirror_serve_requests_total", code="206") == 1
    sent = sample(after, "corral_mirror_serve_sent_bytes_total")
    assert sent is not None and sent > body  # bodies, plus status lines and headers
    assert sample(after, "corral_mirror_serve_open_connections") == 1  # the scrape's


def test_bytes_sent_count_files_sent_with_sendfile(server: MirrorServe, mirror_dir: Path) -> None:
    (mirror_dir / "blob").write_bytes(b"x" * 2_000_000)
    url = server.url.rstrip("/")
    before = sample(scrape(url + "/metrics"), "corral_mirror_serve_sent_bytes_total")
    with urllib.request.urlopen(url + "/blob", timeout=10) as response:
        assert len(response.read()) == 2_000_000
    after = sample(scrape(url + "/metrics"), "corral_mirror_serve_sent_bytes_total")
    assert before is not None and after is not None
    assert 2_000_000 < after - before < 2_100_000  # the blob, headers, the first scrape


def test_only_the_exact_metrics_target_is_served(server: MirrorServe) -> None:
    targets = [b"/metrics", b"/metrics/", b"/metrics?x=1", b"/%6detrics", b"//metrics",
               b"/metrics%00", b"/../metrics"]  # fmt: skip
    answers = exchange(server.port, [get(t) for t in targets])  # type: ignore[attr-defined]
    # the rest as before: checked as file paths, refused or absent
    assert [a[0] for a in answers] == [200, 400, 404, 404, 400, 400, 400]
    assert b"corral_mirror_serve_requests_total" in answers[0][2]
    post = exchange(server.port, [get(b"/metrics", method=b"POST")])  # type: ignore[attr-defined]
    assert post[0][0] == 405


def test_readiness_stopping_and_journal_lines(mirror_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with systemd_stand_in(tmp_path, log) as (sock, env):
        serve = MirrorServe(mirror_dir, log)
        serve.env = env
        serve.start()
        assert sock.recv(4096).decode() == f"READY=1\nSTATUS=serving {mirror_dir}"
        assert [sock.recv(4096).decode() for _ in range(3)] == ["WATCHDOG=1"] * 3
        serve.proc.terminate()  # type: ignore[union-attr]
        while (said := sock.recv(4096).decode()) == "WATCHDOG=1":
            pass
        assert said == "STOPPING=1"
        assert serve.proc.wait(10) == 0  # type: ignore[union-attr]
    lines = serve.log_text().splitlines()
    assert lines[0].startswith("<6>corral.mirror: corral-mirror "), lines
    assert lines[1].startswith(f"<6>corral.mirror.serve: serving mirror {mirror_dir} on http")
    assert lines[-1] == "<6>corral.mirror.serve: stopped"


def test_json_log_lines(mirror_dir: Path, tmp_path: Path) -> None:
    serve = MirrorServe(mirror_dir, tmp_path / "serve.log", "--log-format", "json").start()
    serve.stop()
    entries = [json.loads(line) for line in serve.log_text().splitlines()]
    assert [e["message"].split()[0] for e in entries] == ["corral-mirror", "serving", "stopped"]
    assert {e["daemon"] for e in entries} == {"corral-mirror"}
