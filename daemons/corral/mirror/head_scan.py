"""Where a connection's request heads begin and end, and whether each keeps serve's limits.

Pure: the bytes a client sends go in as they arrive, in pieces of any size; out come the
bytes to hand on to the HTTP parser, how many heads (request line and header fields)
are complete, whether one is still arriving, and a `Refusal` with the status to answer
once one crosses a limit. The limits are checked on the raw bytes, before the parser
has to hold them, and as they arrive: an endless request line is refused at its limit,
not at its end.

A request that declares a body (`Content-Length` other than 0, or `Transfer-Encoding`)
is the last one read from its connection: serve answers only GET and HEAD, which carry
none, so nothing after such a head is passed on, and the body is never waited for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """A head serve will not read to its end: answered `status`, then the connection closed."""

    status: int
    reason: str


@dataclass(frozen=True)
class HeadLimits:
    """What one head may hold (corral.mirror.serve_limits)."""

    request_line: int  # bytes of the request line, without its CRLF; 414 beyond
    header_fields: int  # header field lines; 431 beyond
    header_bytes: int  # bytes of all header field lines, CRLFs included; 431 beyond


@dataclass(frozen=True)
class Scanned:
    """What became of one piece of a connection's bytes."""

    passed: bytes  # to hand on to the parser, in order
    refusal: Refusal | None  # the head after `passed` crossed a limit


class HeadScan:
    """One connection's incoming bytes, head by head."""

    def __init__(self, limits: HeadLimits) -> None:
        self.limits = limits
        self.heads = 0  # complete heads passed on
        self.ended = False  # nothing more is passed on: a body follows, or a refusal
        self._line = bytearray()  # the unfinished line (bounded by the limits)
        self._request_line_seen = False
        self._fields = 0
        self._field_bytes = 0
        self.body_follows = False  # the last head passed on declares a body
        self._declares_body = False  # the head arriving does
        self._started = False  # a byte of the next head has arrived

    @property
    def in_head(self) -> bool:
        """Part of a head has arrived, not its end."""
        return self._started and not self.ended

    def end(self) -> None:
        """Nothing more is passed on (the connection is being answered and closed)."""
        self.ended = True

    def feed(self, data: bytes) -> Scanned:
        if self.ended:
            return Scanned(b"", None)
        pos = 0
        while pos < len(data):
            self._started = True
            newline = data.find(b"\n", pos)
            end = len(data) if newline < 0 else newline + 1
            carried = len(self._line)  # of this line, from earlier pieces (passed on)
            self._line += data[pos:end]
            crossed = self._check() or (self._take_line() if newline >= 0 else None)
            if crossed is not None:
                refusal, within = crossed
                self.ended = True
                # the parser sees every byte before the one that crossed the limit,
                # however the bytes were cut into pieces
                return Scanned(data[:pos + max(0, within - carried)], refusal)
            pos = end
            if not self._started and self._declares_body:  # that line ended the head
                self.body_follows = self.ended = True
                return Scanned(data[:pos], None)
        return Scanned(data, None)

    def _check(self) -> tuple[Refusal, int] | None:
        """The line so far against the byte limits, and how much of it is within."""
        if not self._request_line_seen:
            limit = self.limits.request_line
            refusal = Refusal(414, f"request line longer than {limit} bytes")
        else:  # an empty line, which ends the head, always fits
            limit = max(0, self.limits.header_bytes - self._field_bytes - 2)  # CRLF to come
            refusal = Refusal(431, f"header fields longer than {self.limits.header_bytes}"
                                   " bytes in all")
        if _without_crlf(self._line) <= limit:
            return None
        # a CR at the limit was taken for the line's end until the byte after it came
        return refusal, limit + (self._line[limit] == 0x0D)

    def _take_line(self) -> tuple[Refusal, int] | None:
        """A complete line: the request line, a header field, or the end of the head."""
        line = bytes(self._line[:_without_crlf(self._line)])
        ending = len(self._line) - 1  # the line without its LF
        self._line.clear()
        if not self._request_line_seen:
            # empty lines before a request line are skipped, as RFC 9112 2.2 allows
            self._request_line_seen = bool(line)
            return None
        if not line:
            self.heads += 1
            self._request_line_seen = False
            self._fields = self._field_bytes = 0
            self._started = False
            return None
        self._fields += 1
        self._field_bytes += len(line) + 2
        if self._fields > self.limits.header_fields:
            return Refusal(431, f"more than {self.limits.header_fields} header fields"), ending
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length"
                                           and value.strip() != b"0"):
            self._declares_body = True
        return None


def _without_crlf(line: bytearray) -> int:
    """The length of `line` without its line end (CRLF, LF, or a CR still alone)."""
    n = len(line)
    if n and line[n - 1] == 0x0A:
        n -= 1
    if n and line[n - 1] == 0x0D:
        n -= 1
    return n
