"""Unary calls to one etcd member's JSON gateway over raw HTTP/1.1 keep-alive.

A v2 write costs the gateway one transaction, and aiohttp's client spent about 200 us
of CPU on each here, as much as the rest of the write; these connections (asyncio
protocol, httptools parser) spend a fraction of that. Watches, long streams, stay
on aiohttp.

Invariants: a connection carries one request at a time and is pooled again only
after its answer was read in full with keep-alive; any failure or cancellation
closes it. `NeverSent` means the request cannot have reached etcd (no connection
was made), so even a write may be sent elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from urllib.parse import urlsplit

import httptools


class NeverSent(Exception):
    """No connection to the member could be made: the request was not sent."""


class _Exchange(asyncio.Protocol):
    """One keep-alive connection; `send` writes a request, its future gets the answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP from etcd: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by etcd"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        self.reusable = self._parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))
        self._body = []

    def _fail(self, exc: BaseException) -> None:
        self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            fut.set_exception(ConnectionResetError("connection closed"))
            return fut
        self.reusable = False
        self._waiter = fut
        self.transport.write(request)
        return fut


class Member:
    """The pooled connections to one member's client URL."""

    def __init__(self, url: str, tls: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = tls if parts.scheme == "https" else None
        self._head = f"Host: {parts.netloc}\r\nContent-Type: application/json\r\n"
        self._idle: list[_Exchange] = []

    async def _connect(self, timeout: float) -> _Exchange:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Exchange, self.host, self.port, ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                )  # fmt: skip
        except (OSError, TimeoutError) as exc:
            raise NeverSent(f"{self.host}:{self.port}: {exc!r}") from None
        return conn

    async def post(
        self, path: str, body: bytes, timeout: float, connect_timeout: float
    ) -> tuple[int, bytes]:
        """(status, body) of one POST; NeverSent, or OSError/TimeoutError once sent."""
        conn = None
        while self._idle and conn is None:
            idle = self._idle.pop()
            conn = None if idle.closed else idle
        if conn is None:
            conn = await self._connect(connect_timeout)
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        try:
            async with asyncio.timeout(timeout):
                answer = await conn.send(request)
        except BaseException:
            conn.close()
            raise
        if conn.reusable:
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
