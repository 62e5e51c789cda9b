"""--listen-metrics-urls: a store whose client URLs demand a TLS client certificate is
scraped over plain HTTP, where only /metrics and /health answer (as etcd's)."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from security_pki import Pki

from corral.testing import StoreServer, scrape, wait_until

METRICS_LINE = re.compile(r"serving metrics on (\S+)/metrics")


def call(url: str, method: str, path: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_a_tls_store_is_scraped_on_its_plain_metrics_url(tmp_path: Path, pki: Pki) -> None:
    cert, key = pki.server
    store = StoreServer(
        tmp_path / "store",
        ["--cert-file", str(cert), "--key-file", str(key), "--trusted-ca-file", str(pki.ca),
         "--client-cert-auth", "--listen-metrics-urls", "http://127.0.0.1:0"],
        listen="https://127.0.0.1:0",
    )  # fmt: skip
    store.spawn()  # not start(): its only client URL wants a certificate to poll
    try:
        wait_until(lambda: METRICS_LINE.search(store.log_text()) is not None, 20,
                   f"the metrics URL logged\n{store.log_tail()}")  # fmt: skip
        match = METRICS_LINE.search(store.log_text())
        assert match is not None
        url = match.group(1)
        assert url.startswith("http://127.0.0.1:")
        samples = scrape(f"{url}/metrics")
        assert ("etcd_debugging_store_watchers", frozenset()) in samples
        assert call(url, "GET", "/health") == (200, b'{"health":"true"}')
        # no key, no other API: those stay behind the client URLs' TLS
        for path in ("/v2/keys/", "/v2/keys/k", "/version", "/v2/members", "/metrics/"):
            assert call(url, "GET", path)[0] == 404, path
        assert call(url, "PUT", "/v2/keys/k")[0] == 404
        assert call(url, "POST", "/metrics")[0] == 405
        after = scrape(f"{url}/metrics")
        # the scrapes themselves are counted
        assert (after.get(("corral_store_requests_total",
                           frozenset({("method", "GET"), ("code", "200")}))) or 0) >= 1  # fmt: skip
    finally:
        assert store.stop() == 0


def test_a_metrics_url_is_plain_http(tmp_path: Path) -> None:
    cases = [("https://127.0.0.1:0", "serves plain http:// only"),
             ("unix:///run/x", "serves plain http:// only"),
             ("http://127.0.0.1", "expected http://HOST:PORT")]  # fmt: skip
    for url, why in cases:
        done = subprocess.run(
            [sys.executable, "-m", "corral.store", "--data-dir", str(tmp_path / "d"),
             "--listen-client-urls", "http://127.0.0.1:0", "--listen-metrics-urls", url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (url, done.stderr)
        assert f"corral-store: {url}: " in done.stderr and why in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_scrapes_have_connections_of_their_own(tmp_path: Path) -> None:
    """--max-connections counts the metrics URLs' connections apart from the clients':
    a store full of clients can still be scraped, and scrapers cannot crowd out clients."""
    flags = ["--max-connections", "1", "--listen-metrics-urls", "http://127.0.0.1:0"]
    store = StoreServer(tmp_path / "store", flags)
    store.start()
    try:
        match = METRICS_LINE.search(store.log_text())
        assert match is not None
        url = match.group(1)
        client, scraper = urlsplit(store.url), urlsplit(url)
        with socket.create_connection((client.hostname, client.port)):  # a client holds it
            assert call(url, "GET", "/metrics")[0] == 200
            with socket.create_connection((scraper.hostname, scraper.port)):
                assert call(url, "GET", "/metrics")[0] == 503  # past the limit
    finally:
        store.stop()
