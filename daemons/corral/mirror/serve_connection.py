"""serve's connections: aiohttp's HTTP/1.1 protocol behind a `HeadScan`, with a clock
on each request head and a cap on connections open at once.

The scan sees every byte a client sends before aiohttp's parser does, so the limits
hold on raw bytes, with their own statuses (414, 431, 408) where aiohttp's parser can
only answer 400. A refusal is raised from the parser's place (`_RefusingParser`), so
aiohttp answers it as it answers its own parse errors: after the answers to the
requests before it, counted by the metrics, then the connection closed.

The head clock runs only while the server waits for the client: from accepting the
connection, or from the first byte of a later head once every earlier request is
answered (a head that waited behind a slow answer is not the client's delay), to the
head's end. When it runs out, a partial head is answered 408; a connection that sent
nothing is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from corral.mirror.head_scan import HeadLimits, HeadScan, Refusal

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class HeadRefused(HttpProcessingError):
    """A `Refusal`, where aiohttp's protocol expects a parse error."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(code=refusal.status, message=refusal.reason + "\n")


class _RefusingParser:
    """aiohttp's request parser, made to raise a refusal once the requests before it are
    out (aiohttp answers a parse error after them, then closes)."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self.refusal: Refusal | None = None  # to raise, once

    def feed_data(self, data: bytes) -> Any:
        parsed = self._parser.feed_data(data)  # bytes the scan passed on: all parsed
        if self.refusal is None or parsed[0]:  # requests held behind a full queue come first
            return parsed
        refusal, self.refusal = self.refusal, None
        raise HeadRefused(refusal)

    def message_consumed(self) -> None:
        self._parser.message_consumed()

    def pause_reading(self) -> None:
        self._parser.pause_reading()

    def set_upgraded(self, val: bool) -> None:
        self._parser.set_upgraded(val)


class _GuardedProtocol(RequestHandler):
    """aiohttp's protocol for one connection, fed through a `HeadScan`."""

    def __init__(self, manager: web.Server, *, limits: HeadLimits, header_timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refusing = _RefusingParser(self._parser)
        self._parser = self._refusing  # type: ignore[assignment]  # the methods aiohttp calls
        self._scan = HeadScan(limits)
        self._header_timeout = header_timeout
        self._answered = 0
        self._head_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._time_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        scanned = self._scan.feed(data)
        if scanned.passed or not data:  # b"": aiohttp resumes a paused parse
            super().data_received(scanned.passed)
        if scanned.refusal is not None:
            self._refuse(scanned.refusal)
        self._time_head()

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        if self._scan.body_follows and self._answered + 1 >= self._scan.heads:
            resp.force_close()  # the last request read from this connection: say so
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self._answered += 1
            if self._refusing.refusal is not None:  # held back by the requests before it
                super().data_received(b"")
            self._time_head()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None,
                     ) -> web.StreamResponse:
        if isinstance(exc, HeadRefused):
            status = exc.code
        return super().handle_error(request, status, exc, message)

    def _refuse(self, refusal: Refusal) -> None:
        self._scan.end()
        self._refusing.refusal = refusal
        super().data_received(b"")  # raised now, or after the requests aiohttp holds

    def _time_head(self) -> None:
        waiting = (not self._scan.ended and self._answered >= self._scan.heads
                   and (self._scan.in_head or self._scan.heads == 0))
        if waiting and self._head_clock is None and self.transport is not None:
            self._head_clock = asyncio.get_running_loop().call_later(
                self._header_timeout, self._head_late)
        elif not waiting:
            self._stop_clock()

    def _stop_clock(self) -> None:
        if self._head_clock is not None:
            self._head_clock.cancel()
            self._head_clock = None

    def _head_late(self) -> None:
        self._head_clock = None
        if self._scan.in_head:
            self._refuse(Refusal(408, f"request head not received within"
                                      f" {self._header_timeout:g} s"))
        else:
            self.force_close()


class GuardedServer(web.Server):
    """aiohttp's server of `_GuardedProtocol`s; a connection beyond `max_connections` is
    closed as soon as it is accepted."""

    def __init__(self, handler: Handler, *, max_connections: int, limits: HeadLimits,
                 header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.max_connections = max_connections
        self._protocol_kwargs = dict(kwargs, limits=limits, header_timeout=header_timeout)
        self._loop_of_protocols = asyncio.get_running_loop()

    def __call__(self) -> RequestHandler:
        return _GuardedProtocol(self, loop=self._loop_of_protocols, **self._protocol_kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self.connections) > self.max_connections:
            transport.close()
