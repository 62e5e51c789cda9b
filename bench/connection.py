"""One keep-alive HTTP/1.1 connection of the load generator, with one request in flight.

`send` writes prebuilt request bytes and returns a future for (response, arrival time);
the arrival time is taken when the bytes are read, before any callback runs, so the
generator's own scheduling does not add to the latency it reports. A broken connection
fails its pending request and every later one; the caller reconnects.
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import httptools

from bench.wire import Response, ResponseReader


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.reader = ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[Response, float]] | None = None
        self.closed: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        try:
            responses = self.reader.feed(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP from server: {exc}"))
            return
        for response in responses:
            waiter, self.waiter = self.waiter, None
            if waiter is None:
                self._fail(ConnectionError("response without a request"))
                return
            if not waiter.done():
                waiter.set_result((response, now))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by server"))

    def _fail(self, exc: BaseException) -> None:
        self.closed = exc
        if self.transport is not None:
            self.transport.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future[tuple[Response, float]]:
        """Write one request; the future resolves to (response, time it arrived)."""
        assert self.waiter is None, "one request in flight per connection"
        fut: asyncio.Future[tuple[Response, float]]
        fut = asyncio.get_running_loop().create_future()
        if self.closed is not None or self.transport is None:
            fut.set_exception(self.closed or ConnectionError("not connected"))
            return fut
        self.waiter = fut
        self.transport.write(data)
        return fut


async def connect(url: str) -> Connection:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, parts.hostname, parts.port)
    return conn
