"""The agent's log endpoint: `GET /journal/<unit>?lines=N&follow=1` as text/plain.

corralctl reads a unit's log from the agent of the machine running it (its URL is
the `journal` field of the machine record), as fleetctl went over ssh. Read-only;
a unit that is not loaded here is a 404.
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from corral.fleet.executor import Executor


def serve_journal(executor: Executor, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving on a daemon thread; the server's address is in `server_address`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            name = urllib.parse.unquote(url.path.removeprefix("/journal/"))
            if not url.path.startswith("/journal/") or name not in executor.loaded():
                self.send_error(404, f"unit {name!r} is not loaded on this machine")
                return
            try:
                lines = int(query.get("lines", ["10"])[0])
            except ValueError:
                self.send_error(400, "lines must be a number")
                return
            follow = query.get("follow", ["0"])[0] in ("1", "true")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            try:
                for line in executor.journal(name, lines, follow):
                    self.wfile.write(line.encode() + b"\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:
            pass  # requests are not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="journal", daemon=True).start()
    return server
