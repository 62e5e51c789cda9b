"""A daemon's Prometheus registry over HTTP, for thread-based daemons.

The pattern every daemon follows: its metrics in `<package>/metrics.py`, one
`CollectorRegistry` of its own with a `ProcessCollector` on it, counted at the I/O call
sites (never in pure cores); a thread-based daemon serves it with `serve()` behind a
`--metrics-listen HOST:PORT` flag, an aiohttp daemon answers `/metrics` on its own
listener (corral.mirror.serve).

prometheus_client's own WSGI server in a thread of its own: GET /metrics (any path,
in fact, as prometheus_client answers) with the registry's text format. Port 0 binds
any free port; the bound URL is logged (`serving metrics on URL`) so that operators
and tests can find it. asyncio daemons serve `/metrics` from their own HTTP app
instead (prometheus_client.generate_latest on the same registry).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


class ListenError(ValueError):
    """A HOST:PORT that is not one."""


def parse_listen(text: str, flag: str = "--metrics-listen") -> tuple[str, int]:
    """`HOST:PORT` (`[v6]:PORT` too) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ListenError(f"{flag} {text!r}: use HOST:PORT, e.g. 127.0.0.1:9465")
    return host, int(port)


@dataclass
class MetricsServer:
    """A running metrics endpoint: its URL, and close() to stop it and free the port."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        # an AF_INET or AF_INET6 server: (host, port, ...) with the host as text
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(registry: CollectorRegistry, listen: str) -> MetricsServer:
    """Serve `registry` on `listen` (HOST:PORT) until close(); OSError if it cannot bind."""
    host, port = parse_listen(listen)
    server, thread = start_http_server(port, host, registry)
    metrics = MetricsServer(server, thread)
    log.info("serving metrics on %s", metrics.url)
    return metrics
