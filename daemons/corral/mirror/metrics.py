"""`corral-mirror serve`'s Prometheus metrics, in one registry of their own, served at
`/metrics` on serve's own listener (as etcd and corral-store serve theirs on their
client URLs).

Requests are counted when aiohttp has finished answering them (its access-log hook),
so a Range request counts as the 206 it became. Files go out with sendfile(2), which
aiohttp does not count: a file response adds its Content-Length, so a file transfer
cut short counts in full.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, FileResponse, StreamResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_open_fds...

REQUESTS = Counter(
    "corral_mirror_serve_requests",
    "HTTP requests answered, by status code",
    ["code"],
    registry=REGISTRY,
)
BYTES_SENT = Counter(
    "corral_mirror_serve_sent_bytes",
    "Bytes of responses sent (status line, headers and body; a file cut short counts in"
    " full)",
    registry=REGISTRY,
)
SLOW_READERS = Counter(
    "corral_mirror_serve_slow_readers",
    "Connections dropped because the client took a file slower than --min-send-rate",
    registry=REGISTRY,
)
OPEN_CONNECTIONS = Gauge(
    "corral_mirror_serve_open_connections",
    "Client connections open now (beyond --max-connections they are closed when accepted)",
    registry=REGISTRY,
)


class CountingAccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, used to count rather than to log."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        REQUESTS.labels(str(response.status)).inc()
        sent = response.body_length  # status line, headers, bodies written by aiohttp
        if (isinstance(response, FileResponse) and response.status in (200, 206)
                and request.method != "HEAD"):  # fmt: skip
            sent += response.content_length or 0  # the file's part, sent by sendfile(2)
        BYTES_SENT.inc(sent)
