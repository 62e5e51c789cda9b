"""Test helpers: a mirror served by `corral-mirror serve` or by Debian's nginx, and a
deliberately misbehaving HTTP server (cuts transfers, sends endless data)."""

from __future__ import annotations

import http.server
import re
import shutil
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from corral.testing import ManagedProcess, free_port, wait_until

SERVING = re.compile(r"serving mirror \S+ on (http://\S+)")


class MirrorServe(ManagedProcess):
    def __init__(self, directory: Path, log: Path, *flags: str) -> None:
        argv = [sys.executable, "-m", "corral.mirror.cli", "serve", str(directory),
                "--listen", "127.0.0.1:0", *flags]
        super().__init__(argv, log)
        self.url = ""

    def start(self) -> MirrorServe:
        self.spawn()

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"corral-mirror serve died:\n{self.log_tail()}")
            match = SERVING.search(self.log_text())
            self.url = match.group(1) if match else ""
            return bool(match)

        wait_until(ready, 20, "corral-mirror serve")
        return self


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location ~ /\\. {{ return 404; }}
    }}
}}
"""


class Nginx(ManagedProcess):
    """Debian's nginx in the foreground, with its own config, on a free port."""

    def __init__(self, directory: Path, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=self.port, root=directory))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        super().__init__([nginx, "-c", str(conf), "-p", str(tmp), "-e", "stderr"],
                         tmp / "nginx.log")
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.spawn()

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"nginx died:\n{self.log_tail()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(ready, 20, "nginx")
        return self


class Trickster:
    """A real HTTP server on 127.0.0.1:0 serving a directory, with hooks to misbehave.

    `payload_hook(path, handler)` may take over a request (return True) to cut it
    short or stream endless data; every request's Range header is recorded.
    """

    def __init__(self, directory: Path,
                 payload_hook: Callable[[str, http.server.BaseHTTPRequestHandler], bool]):
        trickster = self
        self.ranges: list[tuple[str, str | None]] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                trickster.ranges.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/pool/") and payload_hook(self.path, self):
                    return
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Trickster:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
