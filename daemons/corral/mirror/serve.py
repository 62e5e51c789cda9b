"""`serve`: the mirror directory over HTTP, with Range requests and ETags.

aiohttp's FileResponse is used rather than the standard library's http.server: it
already implements Range, If-Range, ETag/If-None-Match and Last-Modified, and sends
files with sendfile(2) from an event loop, which matters for sync throughput. Any
static server works (nginx is tested); this one adds nothing a client depends on.

Invariants: only files under the mirror directory are served, never a hidden path
(the `.corral-mirror` work area, temporary files of atomic writes); documents that
change (`root.json`, `channels.json`, `release.json`) are `no-cache`, everything else
is immutable and says so. Every request target is checked by
`corral.mirror.request_target` from its raw bytes (400, 404 or 414, never a 500).

Limits (`corral.mirror.serve_limits`), held on each connection's raw bytes before
aiohttp parses them (`corral.mirror.serve_connection`): a request line over
`MAX_REQUEST_LINE` bytes is 414 at once, more than `MAX_HEADERS` header lines or
`MAX_HEADER_BYTES` of them 431, a head not complete within `HEADER_TIMEOUT` seconds of
the connection's start (for a later request: of its first byte, once the requests before
it are answered) 408, each answer closing the connection; a target over `MAX_TARGET`
bytes is 414 too. A request body is never read (GET and HEAD have none): a request that
declares one is the last answered on its connection. A connection idle for `KEEPALIVE`
seconds is closed; a connection beyond `MAX_CONNECTIONS` open at once is closed as soon
as it is accepted. Pipelined requests are answered in order, and aiohttp stops reading a
connection whose queue of unanswered requests is full.

`/metrics` (exactly that target, GET or HEAD) answers Prometheus's text format
(corral.mirror.metrics); a mirror holds no file by that name at its top. Under systemd
serve says READY=1 once listening, WATCHDOG=1 from its event loop (a blocked loop stops
the pings) and STOPPING=1 when it begins to shut down.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from corral.mirror import metrics
from corral.mirror.head_scan import HeadLimits
from corral.mirror.layout import MirrorError
from corral.mirror.request_target import BadTarget, target_path
from corral.mirror.serve_connection import GuardedServer, Handler
from corral.mirror.serve_limits import (
    HEADER_TIMEOUT,
    KEEPALIVE,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    MIN_SEND_RATE,
    SEND_GRACE,
)
from corral.systemd import Notifier

log = logging.getLogger(__name__)
METRICS_PATH = "/metrics"
MUTABLE = {"root.json", "channels.json", "release.json"}


def _file(base: Path, rel: str) -> Path | None:
    try:
        path = (base / rel).resolve()
        if path.is_relative_to(base) and path.is_file():
            return path
    except (OSError, RuntimeError):  # a name too long for the file system, a symlink loop
        pass
    return None


class PacedFileResponse(web.FileResponse):
    """A file sent within `grace` + size / `min_rate` seconds, else the connection is
    dropped: aiohttp itself waits for a client that stops reading for ever."""

    def __init__(self, path: Path, min_rate: int, grace: float, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._file_path = path
        self._min_rate, self._grace = min_rate, grace

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            size = self._file_path.stat().st_size
        except OSError:
            size = 0  # aiohttp answers the missing file itself
        try:
            async with asyncio.timeout(self._grace + size / self._min_rate):
                return await super().prepare(request)
        except TimeoutError:
            metrics.SLOW_READERS.inc()
            # a ConnectionError tells aiohttp the client is gone: it closes the connection
            raise ConnectionResetError("the client read too slowly") from None


def make_handler(base: Path, min_send_rate: int = MIN_SEND_RATE,
                 send_grace: float = SEND_GRACE) -> Handler:  # fmt: skip
    """The one handler of every request (no router: the target is checked here, raw)."""
    base = base.resolve()

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers={"Allow": "GET, HEAD"},
                                text="only GET and HEAD\n")
        if request.raw_path == METRICS_PATH:
            return web.Response(body=generate_latest(metrics.REGISTRY),
                                headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4,
                                         "Cache-Control": "no-store"})
        try:
            rel = target_path(request.raw_path)
        except BadTarget as e:
            return web.Response(status=e.status, text=e.reason + "\n")
        path = _file(base, rel)
        if path is None:
            return web.Response(status=404, text="not found\n")
        mutable = rel.rsplit("/", 1)[-1] in MUTABLE
        cache = "no-cache" if mutable else "public, max-age=31536000, immutable"
        return PacedFileResponse(path, min_send_rate, send_grace,
                                 headers={"Cache-Control": cache})

    return handle


class _QuietBadRequests(logging.Filter):
    """A request the parser refused is answered 400; its traceback is noise in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HttpProcessingError)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise MirrorError(f"bad --listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


async def _serve(
    base: Path, host: str, port: int, max_connections: int, keepalive: float,
    header_timeout: float, min_send_rate: int, send_grace: float,
) -> None:
    logging.getLogger("aiohttp.server").addFilter(_QuietBadRequests())
    # the access-log hook counts requests (metrics.py); nothing is logged per request.
    # lingering_time=0: a body nobody reads is not waited for (HeadScan passes none on)
    handler = make_handler(base, min_send_rate, send_grace)
    server = GuardedServer(handler, max_connections=max_connections,
                           limits=HeadLimits(MAX_REQUEST_LINE, MAX_HEADERS, MAX_HEADER_BYTES),
                           header_timeout=header_timeout,
                           access_log_class=metrics.CountingAccessLogger, access_log=log,
                           keepalive_timeout=keepalive, lingering_time=0)
    metrics.OPEN_CONNECTIONS.set_function(lambda: len(server.connections))
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    # before saying it serves: a SIGTERM right after READY=1 is a clean stop
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise MirrorError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    for address in runner.addresses:
        shown = f"[{address[0]}]" if ":" in address[0] else address[0]
        log.info("serving mirror %s on http://%s:%s", base, shown, address[1])
    notifier = Notifier()
    notifier.ready(f"serving {base}")
    pings = asyncio.create_task(_watchdog(notifier))
    try:
        await stop.wait()
        notifier.stopping()
    finally:
        pings.cancel()
        await runner.cleanup()


async def _watchdog(notifier: Notifier) -> None:
    """WATCHDOG=1 from the event loop itself, while it runs (systemd's WatchdogSec=)."""
    interval = notifier.ping_interval()
    while interval is not None:
        notifier.watchdog()
        await asyncio.sleep(interval)


def serve(
    base: Path, listen: str, max_connections: int = MAX_CONNECTIONS,
    keepalive: float = KEEPALIVE, header_timeout: float = HEADER_TIMEOUT,
    min_send_rate: int = MIN_SEND_RATE, send_grace: float = SEND_GRACE,
) -> None:
    if not (base / "root.json").is_file():
        raise MirrorError(f"{base} is not a mirror (no root.json)")
    host, port = parse_listen(listen)
    asyncio.run(_serve(base, host, port, max_connections, keepalive, header_timeout,
                       min_send_rate, send_grace))
    log.info("stopped")
