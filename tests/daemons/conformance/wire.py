"""Raw HTTP/1.1 exchanges with a v2 keys API server, byte for byte.

The conformance suite must send exactly what a scenario says (odd percent-encoding,
malformed request lines, bad UTF-8, huge bodies) and see exactly what came back
(status, every header, the raw body), so it writes requests onto a socket itself
instead of going through `corral.client`, which normalises all of that away.

Invariants: every socket operation has a timeout; a keep-alive connection the server
closed is reopened transparently; a server that closes a fresh connection without
answering gives a `Reply` with status 0, never an exception, so the suite can compare
it.
"""

from __future__ import annotations

import http.client
import select
import socket
import urllib.parse
from dataclasses import dataclass, field

READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    """One HTTP request. `raw`, when given, is sent as is instead of being built."""

    method: str
    target: str
    form: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    raw: bytes | None = None

    def encode(self, host: str) -> bytes:
        if self.raw is not None:
            return self.raw
        body = self.body
        headers = [("Host", host), *self.headers]
        if body is None and self.form:
            body = urllib.parse.urlencode(self.form).encode()
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        head = f"{self.method} {self.target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers)
        return head.encode("latin-1") + b"\r\n" + (body or b"")

    def describe(self) -> str:
        if self.raw is not None:
            shown = self.raw[:80]
            return f"raw {shown!r}{'...' if len(self.raw) > 80 else ''}"
        target = self.target
        if len(target) > 120:
            target = f"{target[:100]}...<{len(target)} characters>"
        text = f"{self.method} {target}"
        if self.form:
            text += " -d " + urllib.parse.urlencode(self.form)
        elif self.body is not None:
            text += f" <body of {len(self.body)} bytes>"
        return text


@dataclass(frozen=True)
class Reply:
    """What came back. status 0 means the server closed the connection without a reply."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Connection:
    """A keep-alive connection to one server, reopened when the server closed it."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.sock: socket.socket | None = None

    def _open(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=READ_TIMEOUT)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, request: Request) -> None:
        """Send without reading the answer (for long polls)."""
        data = request.encode(f"{self.host}:{self.port}")
        for attempt in (1, 2):
            try:
                self._open().sendall(data)
                return
            except (BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server had closed; one fresh try.
                self.close()
                if attempt == 2:
                    raise

    def answered(self) -> bool:
        """True when the server has started answering (bytes or EOF are waiting)."""
        if self.sock is None:
            return False
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def receive(self, method: str, timeout: float = READ_TIMEOUT) -> Reply:
        sock = self._open()
        sock.settimeout(timeout)
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            body = resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            self.close()
            return Reply(0)
        except http.client.IncompleteRead as exc:
            # The status line and headers came but the body was cut: keep what came.
            self.close()
            return Reply(resp.status, _headers(resp), exc.partial + b"<cut>")
        finally:
            sock.settimeout(READ_TIMEOUT)
        reply = Reply(resp.status, _headers(resp), body)
        if resp.will_close:
            self.close()
        resp.close()
        return reply

    def exchange(self, request: Request, timeout: float = READ_TIMEOUT) -> Reply:
        reused = self.sock is not None
        reply = self._exchange_once(request, timeout)
        if reply.status == 0 and reused and request.raw is None:
            # The server had closed this idle keep-alive connection before reading the
            # request (as every HTTP client assumes): one try on a fresh connection.
            reply = self._exchange_once(request, timeout)
        return reply

    def _exchange_once(self, request: Request, timeout: float) -> Reply:
        self.send(request)
        method = request.method if request.raw is None else "GET"
        try:
            return self.receive(method, timeout)
        except TimeoutError:
            self.close()
            raise


def _headers(resp: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in resp.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
