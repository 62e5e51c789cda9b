"""Raw HTTP/1.1 exchanges for the fuzz tests: bytes out, parsed answers back.

`Connection.exchange` sends any bytes (pipelined requests, malformed ones) while
draining what the server answers, so a client that writes a lot never deadlocks
against a server that stops reading until its answers are read. Every wait is
bounded by a deadline: a server that hangs fails the test instead of stalling it.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field


class Hang(AssertionError):
    """The server neither answered nor closed the connection in time."""


class BadAnswer(AssertionError):
    """Bytes from the server that are not an HTTP/1.1 answer."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, last wins
    body: bytes = b""

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


def parse_answer(buf: bytes, head_only: bool) -> tuple[Answer, int] | None:
    """The first complete answer in `buf` and the bytes it used, or None if more is
    needed. Interim 1xx answers are skipped. Raises BadAnswer."""
    start = 0
    while True:
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            return None
        lines = buf[start:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1" or not parts[1].isdigit():
            raise BadAnswer(f"not a status line: {lines[0]!r}")
        answer = Answer(int(parts[1]))
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise BadAnswer(f"not a header: {line!r}")
            answer.headers[name.strip().lower()] = value.strip()
        body_at = end + 4
        if 100 <= answer.status < 200:
            start = body_at
            continue
        if head_only or answer.status in (204, 304):
            return answer, body_at
        if answer.headers.get("transfer-encoding", "").lower() == "chunked":
            return _chunked(buf, body_at, answer)
        if "content-length" not in answer.headers:
            raise BadAnswer(f"an answer without a length: {answer}")
        stop = body_at + int(answer.headers["content-length"])
        if len(buf) < stop:
            return None
        answer.body = buf[body_at:stop]
        return answer, stop


def _chunked(buf: bytes, at: int, answer: Answer) -> tuple[Answer, int] | None:
    body = []
    while True:
        eol = buf.find(b"\r\n", at)
        if eol < 0:
            return None
        size = int(buf[at:eol], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        if size == 0:
            answer.body = b"".join(body)
            return answer, eol + 4
        body.append(buf[eol + 2 : eol + 2 + size])
        at = eol + 2 + size + 2


class Connection:
    def __init__(self, host: str, port: int, deadline: float = 5.0) -> None:
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=deadline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.closed = False  # the server closed its side

    def close(self) -> None:
        self.sock.close()

    def _pump(self, out: memoryview, until: float) -> memoryview:
        """Send what the socket takes of `out` and read what arrived; wait once."""
        want_write = [self.sock] if out else []
        readable, writable, _ = select.select(
            [self.sock], want_write, [], max(0.0, until - time.monotonic())
        )
        if not readable and not writable:
            raise Hang(f"no progress within {self.deadline} s")
        if writable:
            try:
                out = out[self.sock.send(out) :]
            except (BlockingIOError, InterruptedError):
                pass
            except (BrokenPipeError, ConnectionResetError):
                out = out[:0]  # the server closed: what it answered is what counts
        if readable:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                data = None
            except ConnectionResetError:
                data = b""
            if data == b"":
                self.closed = True
                out = out[:0]
            elif data:
                self.buf += data
        return out

    def exchange(self, data: bytes, methods: list[str], half_close: bool = False) -> list[Answer]:
        """Send `data`, then read one answer per method (HEAD answers have no body) or
        until the server closes. With `half_close`, signal the end of input and read
        until the server closes."""
        until = time.monotonic() + self.deadline
        out = memoryview(data)
        while out and not self.closed:
            out = self._pump(out, until)
        if half_close and not self.closed:
            self.sock.shutdown(socket.SHUT_WR)
        answers: list[Answer] = []
        while True:
            if len(answers) < len(methods) or half_close:
                head_only = len(answers) < len(methods) and methods[len(answers)] == "HEAD"
                parsed = parse_answer(self.buf, head_only) if self.buf else None
                if parsed is not None:
                    answer, used = parsed
                    self.buf = self.buf[used:]
                    answers.append(answer)
                    continue
            if len(answers) >= len(methods) and not half_close:
                return answers
            if self.closed:
                if self.buf:
                    raise BadAnswer(f"a truncated answer before the close: {self.buf[:200]!r}")
                return answers
            if time.monotonic() > until:
                raise Hang(f"{len(answers)} of {len(methods)} answers within {self.deadline} s")
            self._pump(memoryview(b""), until)
