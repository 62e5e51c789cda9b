"""corral.metrics_http: a daemon's registry served over real HTTP on port 0, its URL
logged, and closed cleanly (the port is free again)."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from corral import metrics_http
from corral.testing import sample, scrape


def test_serves_the_registry_on_port_zero_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    hits = Counter("corral_test_hits", "hits", registry=registry)
    hits.inc(3)
    with caplog.at_level(logging.INFO, logger="corral.metrics_http"):
        server = metrics_http.serve(registry, "127.0.0.1:0")
    try:
        assert f"serving metrics on {server.url}" in caplog.text
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/metrics")
        assert sample(scrape(server.url), "corral_test_hits_total") == 3
    finally:
        server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=2)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as again:  # released, not left in use
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


@pytest.mark.parametrize("text", ["", "9465", "host:", ":9465", "h:70000", "h:x"])
def test_a_listen_address_must_be_host_and_port(text: str) -> None:
    with pytest.raises(metrics_http.ListenError, match="use HOST:PORT"):
        metrics_http.parse_listen(text)


def test_ipv6_brackets() -> None:
    assert metrics_http.parse_listen("[::1]:9465") == ("::1", 9465)
