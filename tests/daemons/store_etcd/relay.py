"""A TCP relay on 127.0.0.1 that a test can cut and restore: a link that goes down.

While cut, every relayed connection is closed and new ones are closed as soon as they
are accepted, so the client behind it sees its server vanish and come back. `freeze`
silences the connections open at that moment (nothing more is relayed, nothing is
closed: a connection some middlebox forgot) while new ones work. Threads,
one pair per connection; `close` stops them all.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        self._flows: set[threading.Event] = set()  # one per connection: set while relaying
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for s in self._open:
                _shut(s)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def freeze(self) -> None:
        with self._lock:
            for flow in self._flows:
                flow.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        with self._lock:
            for flow in self._flows:
                flow.set()
        _shut(self._listener)
        self._listener.close()
        self._acceptor.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    client.close()
                    continue
                try:
                    server = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                self._open |= {client, server}
                flow = threading.Event()
                flow.set()
                self._flows.add(flow)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b, flow), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, flow: threading.Event) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    flow.wait()
                    if self._closed:
                        return
                    dst.sendall(data)
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _shut(src)
            _shut(dst)
            src.close()


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
