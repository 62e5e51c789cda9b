"""Faults for corral-updated's tests, made with real parts: a store connection that can
be cut (a TCP forwarder), a mirror that sends payloads slowly (a real HTTP server over
the mirror directory), and a size-limited directory (a tmpfs mount)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO


class StoreLink:
    """A TCP forwarder to the store on 127.0.0.1, port 0. `cut()` closes every forwarded
    connection and closes new ones at once, as a store the machine cannot reach;
    `mend()` forwards again."""

    def __init__(self, store_url: str) -> None:
        target = urllib.parse.urlsplit(store_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down = False
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.guard:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down = True
        with self.guard:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()

    def mend(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


class SlowMirror:
    """The mirror directory over HTTP; payloads (`pool/`) trickle at `rate` bytes/s."""

    def __init__(self, directory: Path, rate: int) -> None:
        rate_now = rate

        class Handler(SimpleHTTPRequestHandler):
            def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:
                if not self.path.startswith("/pool/"):
                    return super().copyfile(source, outputfile)
                piece = max(rate_now // 20, 1)
                with contextlib.suppress(OSError):
                    while data := source.read(piece):
                        outputfile.write(data)
                        outputfile.flush()
                        time.sleep(0.05)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          partial(Handler, directory=str(directory)))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (the test runs as root)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def used(path: Path) -> int:
    return shutil.disk_usage(path).used
