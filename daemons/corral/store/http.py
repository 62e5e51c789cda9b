"""The HTTP/1.1 adapter: an asyncio Protocol over httptools' parser.

Chosen by measurement over aiohttp, whose per-request cost left little room for the
store's own work under etcd's throughput (docs/performance.md).

Thin by design: it parses requests, hands each to `Api.dispatch` in order (pipelined
requests are answered in order), writes the answer, and streams watch events as
chunks. A request with nothing before it still due is dispatched inside the parse
callback: an answer given now (a plain GET) is written there, with no task and no
coroutine chain; a pending write is answered by the callback its `Pending` settles
once durable, and requests behind it on the connection wait in `pending` until then,
so answers stay in order; other pending work runs in the connection's task. A client
that goes away cancels its pending request (a long poll's watcher is removed at
once). A request httptools cannot parse gets 400 and the connection is closed.

What one connection may make the server hold is bounded (`Limits`): the request line
(414) and the header lines (431) as they arrive, and a body as it streams: past its
limit the request is answered at once as it stands (the API refuses it with etcd's
form error) and nothing more is read. Each of these answers closes the connection,
and reading stops meanwhile, so a client that keeps sending costs neither memory nor
CPU. Pipelined requests wait in `pending`, at most `MAX_PIPELINE` of them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httptools

from corral.store.api import Answer, HttpRequest, HttpResponse, Pending, WatchResponse
from corral.store.event import Event
from corral.store.limits import DEFAULT, Limits
from corral.store.metrics import REQUESTS

log = logging.getLogger(__name__)

# Api.dispatch: the answer now, or a Pending one.
Dispatch = Callable[[HttpRequest], HttpResponse | Pending]
MAX_PIPELINE = 64
# Bytes of pipelined requests (URLs and bodies) read ahead of their turn: past it the
# connection is not read until they are answered (64 requests of 10 MiB were 640 MiB).
MAX_PIPELINE_BYTES = 16 << 20
MAX_STREAM_BACKLOG = 1 << 20  # bytes of unread events before a stream is dropped
LINGER = 2.0  # seconds a refused connection stays open to drain its request
REASONS = {
    200: "OK", 201: "Created", 301: "Moved Permanently", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "URI Too Long",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    503: "Service Unavailable",
}  # fmt: skip
_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}

_REQUEST_LINE = re.compile(rb"(?m)^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/1\.[01]\r?$")
_KNOWN_METHODS = frozenset(
    m.encode() for m in ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "CONNECT")
)
_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def _head(status: int, headers: list[tuple[str, str]], extra: bytes, raw: bytes = b"") -> bytes:
    status_line = _STATUS_LINES.get(status)
    if status_line is None:
        status_line = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n".encode()
    lines = [status_line]
    lines += [f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in headers]
    lines.append(raw)
    lines.append(b"Date: " + _date() + b"\r\n")
    lines.append(extra)
    lines.append(b"\r\n")
    return b"".join(lines)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that crossed a limit."""


class _Parsed:
    __slots__ = (
        "answer", "authorization", "body", "content_type", "expect_continue", "failure",
        "head_done", "keep_alive", "method", "size", "too_large", "url", "version",
    )  # fmt: skip

    def __init__(self) -> None:
        self.head_done = False
        self.size = 0  # bytes of its URL and body, while it waits in `pending`
        self.url = b""
        self.content_type = ""
        self.authorization = ""
        self.expect_continue = False
        self.failure: tuple[int, str] | None = None  # an unparsable request: refuse it
        self.answer: Pending | None = None  # dispatched already: its work, for the task
        self.body: list[bytes] = []
        self.too_large = False
        self.method = "GET"
        self.keep_alive = True
        self.version = "1.1"


def peer_common_name(cert: dict[str, Any] | None) -> str:
    """The subject CN of a TLS client certificate the handshake verified, or ""."""
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return ""


def origin_form(target: bytes) -> bytes:
    """An absolute-form request target (`http://host/path?q`, as sent to a proxy) as
    Go's server serves it: its path and query; any other target as it is."""
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return target
    cut = len(rest)
    for mark in (b"/", b"?", b"#"):
        at = rest.find(mark)
        if 0 <= at < cut:
            cut = at
    tail = rest[cut:]
    return tail if tail[:1] == b"/" else b"/" + tail


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse, hand to the API in order, write the answers."""

    def __init__(
        self,
        dispatch: Dispatch,
        connections: set[HttpProtocol],
        limits: Limits = DEFAULT,
    ) -> None:
        self.dispatch = dispatch
        self.limits = limits
        self.refusal: tuple[int, str] | None = None  # why a callback raised _Refused
        self.head_bytes = 0  # bytes fed while the current request's head was open
        self.awaiting: _Parsed | None = None  # a pending write, answered by its callback
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.peer_cn = ""
        self.parser = httptools.HttpRequestParser(self)
        self.current: _Parsed | None = None
        self.body_size = 0
        self.pending: deque[_Parsed] = deque()
        self.pending_bytes = 0  # the sum of `size` over `pending`
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.closing_after = False  # answer what is pending, then close
        self.paused = False
        self.writable = asyncio.Event()
        self.writable.set()

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.connections) >= self.limits.connections:
            # A file descriptor each, and a watcher at most: refused, not queued.
            self._fail(503, "too many connections", over_limit=True)
            return
        self.peer_cn = peer_common_name(transport.get_extra_info("peercert"))
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.closing = True
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        # The client is not reading its answers: stop reading its requests too.
        self.writable.clear()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writable.set()
        if self.transport is not None and not self.paused and not self.closing_after:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.closing_after:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._unknown_method(data)
            return
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrade not supported")
            return
        except httptools.HttpParserError:
            refusal, self.refusal = self.refusal, None
            if refusal is None:
                self._fail(400, "Bad Request")
            elif refusal[0] == 413:
                self._cut_short()
            else:
                self._fail(*refusal, over_limit=True)
            return
        cur = self.current
        if cur is not None and not cur.head_done:
            # httptools keeps a header line until it is whole: count what is fed while
            # the head is open (from the chunk it began in: at most a chunk more).
            self.head_bytes += len(data)
            if self.head_bytes - len(cur.url) > self.limits.header_bytes:
                self.current = None
                self._fail(431, "431 Request Header Fields Too Large", over_limit=True)

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self.current = _Parsed()
        self.body_size = 0
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current.url += url
        if len(self.current.url) > self.limits.url_bytes:
            self.refusal = (414, "414 URI Too Long")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        lower = name.lower()
        if lower == b"content-type":
            self.current.content_type = value.decode("latin-1")
        elif lower == b"authorization":
            self.current.authorization = value.decode("latin-1")
        elif lower == b"expect" and value.lower() == b"100-continue":
            self.current.expect_continue = True

    def on_headers_complete(self) -> None:
        # curl waits a second for this before sending a large body; when answers for
        # earlier pipelined requests are still due it would come out of order, so
        # then the client just waits.
        cur = self.current
        if cur is not None:
            cur.head_done = True
        if (
            cur is not None
            and cur.expect_continue
            and self.task is None
            and self.awaiting is None
            and not self.pending
        ):
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        cur = self.current
        assert cur is not None
        self.body_size += len(body)
        if self.body_size > self.limits.body_bytes:
            cur.too_large = True
            cur.body = []
            self.refusal = (413, "")
            raise _Refused
        cur.body.append(body)

    def on_message_complete(self) -> None:
        cur = self.current
        assert cur is not None
        cur.method = self.parser.get_method().decode("ascii", "replace")
        cur.keep_alive = self.parser.should_keep_alive()
        cur.version = self.parser.get_http_version()
        self.current = None
        if (
            self.task is None
            and self.awaiting is None
            and not self.pending
            and not self.closing_after
            and self.writable.is_set()
            and self._taken_now(cur)
        ):
            return
        self.pending.append(cur)
        cur.size = len(cur.url) + self.body_size
        self.pending_bytes += cur.size
        if (
            (len(self.pending) > MAX_PIPELINE or self.pending_bytes > MAX_PIPELINE_BYTES)
            and self.transport is not None
            and not self.paused
        ):
            self.paused = True
            self.transport.pause_reading()
        if self.task is None and self.awaiting is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    # -- serving --------------------------------------------------------------------

    def _taken_now(self, p: _Parsed) -> bool:
        """Dispatch a request inside the parse callback (only when nothing before it is
        still due, so answers stay in order): an answer given now is written here; a
        pending write is answered by its callback once durable, requests after it
        waiting in `pending` until then. False: pending work for the task, kept in
        `p.answer`."""
        answer = self.dispatch(self._request(p))
        if isinstance(answer, HttpResponse):
            self._respond(answer, p)
            if not p.keep_alive:
                self._linger_close()
            return True
        if answer.in_task:
            p.answer = answer
            return False
        self.awaiting = p

        def respond(resp: Answer) -> None:
            if self.awaiting is not p:
                return
            self.awaiting = None
            if self.closing:
                return
            assert isinstance(resp, HttpResponse)  # a write's answer is never a watch
            self._respond(resp, p)
            if not p.keep_alive:
                self._linger_close()
            elif self.pending and self.task is None:
                self.task = asyncio.get_running_loop().create_task(self._serve())

        answer.then(respond)
        return True

    def _fail(self, status: int, text: str, over_limit: bool = False) -> None:
        """Refuse what could not be parsed, after the answers still due before it. What
        the client sends meanwhile is read and dropped, unless it is over a limit
        (then it may send without end: nothing more is read)."""
        p = _Parsed()
        p.failure = (status, text)
        p.keep_alive = False
        self.pending.append(p)
        if over_limit:
            self._stop_reading()
        self.closing_after = True
        if self.task is None and self.awaiting is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    def _cut_short(self) -> None:
        """A body past its limit: the request is answered as it stands (marked too
        large, which the API refuses) and nothing more is read from the connection."""
        cur, self.current = self.current, None
        assert cur is not None
        cur.method = self.parser.get_method().decode("ascii", "replace")
        cur.version = self.parser.get_http_version()
        cur.keep_alive = False
        self._stop_reading()
        self.pending.append(cur)
        if self.task is None and self.awaiting is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    def _stop_reading(self) -> None:
        """Answer what is due, then close; read nothing more meanwhile (what the client
        still sends waits in the kernel's buffers, costing nothing here)."""
        self.closing_after = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _linger_close(self) -> None:
        """Close after the client has had time to read the answer: closing at once
        with its unread request still arriving would reset the connection and lose
        the answer. Meanwhile what it sends is read and dropped."""
        self.closing_after = True
        t = self.transport
        if t is None or t.is_closing():
            return
        if t.can_write_eof():
            t.write_eof()
        asyncio.get_running_loop().call_later(LINGER, self._close)

    def _unknown_method(self, data: bytes) -> None:
        """httptools knows a fixed set of methods; Go accepts any token and answers 405
        (or 404). Answer the request line as the API would, then close: the rest of
        that request cannot be parsed."""
        lines = [m for m in _REQUEST_LINE.finditer(data) if m.group(1) not in _KNOWN_METHODS]
        if not lines:
            self._fail(400, "Bad Request")
            return
        p = _Parsed()
        p.method = lines[-1].group(1).decode("ascii")
        p.url = lines[-1].group(2)
        p.keep_alive = False
        self.pending.append(p)
        self.closing_after = True
        self.parser = httptools.HttpRequestParser(self)
        if self.task is None and self.awaiting is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    def _backlog(self) -> int:
        t = self.transport
        return 0 if t is None or t.is_closing() else t.get_write_buffer_size()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    async def _serve(self) -> None:
        try:
            while self.pending and not self.closing:
                await self.writable.wait()
                req = self.pending.popleft()
                self.pending_bytes -= req.size
                if (
                    self.paused
                    and len(self.pending) < MAX_PIPELINE // 2
                    and self.pending_bytes <= MAX_PIPELINE_BYTES // 2
                    and self.transport
                ):
                    self.paused = False
                    if self.writable.is_set() and not self.closing_after:
                        self.transport.resume_reading()
                await self._answer(req)
                if not req.keep_alive:
                    self._linger_close()
                    break
        except asyncio.CancelledError:
            pass
        finally:
            self.task = None

    async def _answer(self, p: _Parsed) -> None:
        if p.failure is not None:
            status, text = p.failure
            REQUESTS.add("", status)  # not parsed: its method is not known ("other")
            body = text.encode() + b"\n"
            length = b"Connection: close\r\nContent-Length: %d\r\n" % len(body)
            self._write(_head(status, [("Content-Type", "text/plain")], length) + body)
            return
        answer = p.answer if p.answer is not None else self.dispatch(self._request(p))
        p.answer = None
        resp = answer if isinstance(answer, HttpResponse) else await answer.answer()
        if isinstance(resp, WatchResponse):
            await self._stream(resp, p)
            return
        self._respond(resp, p)

    def _request(self, p: _Parsed) -> HttpRequest:
        url = p.url if p.url[:1] == b"/" else origin_form(p.url)
        path, _, query = url.partition(b"?")
        query = query.partition(b"#")[0]
        request = HttpRequest(p.method, path, query, p.content_type, b"".join(p.body), p.too_large)
        request.authorization = p.authorization
        request.peer_cn = self.peer_cn
        return request

    def _respond(self, resp: HttpResponse, p: _Parsed) -> None:
        REQUESTS.add(p.method, resp.status)
        close = b"" if p.keep_alive else b"Connection: close\r\n"
        length = b"Content-Length: %d\r\n" % len(resp.body)
        head = _head(resp.status, resp.headers, close + length, resp.raw_headers)
        self._write(head if p.method == "HEAD" else head + resp.body)

    async def _stream(self, resp: WatchResponse, p: _Parsed) -> None:
        chunked = p.version != "1.0"
        if not chunked:
            p.keep_alive = False
        extra = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
        REQUESTS.add(p.method, 200)
        self._write(_head(200, resp.headers, extra))
        answered = False
        if not resp.stream:
            # A long poll answered from inside the notifying write: waking one task
            # per watcher first made 100 watchers wait 4x longer than etcd's.
            def answer_now(e: Event) -> None:
                nonlocal answered
                body = e.to_json()
                self._write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
                answered = True

            resp.watch.call_on_event(answer_now)
        try:
            while True:
                e = await resp.watch.next()
                if answered:
                    return
                if e is None:  # the server is stopping
                    p.keep_alive = False
                    break
                body = e.to_json()
                self._write(b"%x\r\n%s\r\n" % (len(body), body) if chunked else body)
                if not resp.stream:
                    break
                if self._backlog() > MAX_STREAM_BACKLOG:
                    # A stream reader that stopped reading: drop it, as etcd drops a
                    # watcher whose event buffer is full, instead of buffering forever.
                    p.keep_alive = False
                    break
        finally:
            resp.watch.close()
        if chunked:
            self._write(b"0\r\n\r\n")
