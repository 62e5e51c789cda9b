"""A recording HTTP proxy in front of a store, for tests: every request a daemon sends
through it is forwarded (keep-alive, long polls included) and logged as method and
path with its query, so a test counts what the daemon asks for, by key.

It listens on 127.0.0.1, port 0, one thread per client connection. `hold()` makes
requests that arrive wait until `release()`: the store moves on while a watch is
between two requests (how a test makes a watch fall out of the store's history).
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# headers the proxy sets itself, or that belong to one hop
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date",
        "server"}  # fmt: skip


class RequestLog:
    """The proxy; `requests` holds (method, path?query) in arrival order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
        self._server.daemon_threads = True
        self._server.log = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RequestLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._open.set()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def mark(self) -> int:
        """A position in the log, for `since`."""
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests[mark:])

    def record(self, method: str, path: str) -> None:
        self._open.wait()
        with self._lock:
            self.requests.append((method, path))

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1",
                                          self.upstream.port)  # fmt: skip


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _upstream: http.client.HTTPConnection | None = None

    def _forward(self) -> None:
        log: RequestLog = self.server.log  # type: ignore[attr-defined]
        log.record(self.command, self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if self._upstream is None:
            self._upstream = log.connect()
        self._upstream.request(self.command, self.path, body, headers)
        response = self._upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in _HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the log is `requests`."""
