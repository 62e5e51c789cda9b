"""Random HTTP requests to the store, as raw bytes, from a seeded random.Random.

Hypothesis picks the seeds (and reports the one that fails). Expanding a seed here
instead of drawing every field through hypothesis took 5,400 requests from 105 s to
12 s on this machine: thousands of requests fit in a CI run. `random_request` gives well-framed
HTTP/1.1 requests with random methods, paths (escapes, `..`, NUL, very long, raw
non-UTF-8), query strings and form bodies (every documented parameter, bad values
included), content types, extra and huge headers, Content-Length or chunked
framing. `random_malformed` gives bytes that are no valid request: bad lengths, bad
chunks, broken request lines and headers, binary junk. `EDGES` are the large cases
sent once each.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from urllib.parse import quote

PARAMS = [
    "value", "ttl", "dir", "prevExist", "prevValue", "prevIndex", "recursive", "sorted",
    "wait", "waitIndex", "quorum", "refresh", "stream", "noValueOnSuccess",
]  # fmt: skip
BAD_VALUES = [
    "true", "false", "1", "0", "", "-1", "5", "600", "18446744073709551615",
    "18446744073709551616", "4294967297", "1e3", "0x10", " 1", "t", "F", "yes", "%zz",
    "%", "\x00", "é", "\ufffd", "10000000000000000000000000", "3.5", "+1",
]  # fmt: skip
# A long poll would rightly wait for a change: `wait` gets every value but a true one.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
KEEP_ALIVE_METHODS = ["GET", "GET", "PUT", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]
CLOSING_METHODS = ["FOO", "get", "PROPFIND", "CONNECT", "TRACE"]
PREFIXES = [
    "/v2/keys", "/v2/keys", "/v2/keys", "/v2/keys", "/v2/keys/", "/v2/key", "/v2",
    "", "/health", "/version", "/v2/stats/store", "/v2/stats/self", "/v2/stats/leader",
    "/v2/members", "/v2/members/leader", "/v2/machines", "/v2/auth/users",
    "/v2/auth/roles", "/v2/auth/enable", "//v2/keys", "/v2/keys/../keys", "/v2/./keys",
]  # fmt: skip
SEGMENTS = [
    "a", "b", "c", "dir", "_hidden", "..", ".", "", "%2F", "%2e%2e", "%zz", "%", "%0",
    "%00", "%ff", "%fe", "%c3", "%c3%a9", "%20", "+", "a%2Fb", "~", "*", "%25",
]  # fmt: skip
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8", "APPLICATION/X-WWW-FORM-URLENCODED",
    "text/plain", "multipart/form-data; boundary=x", "application/json", "", ";;;",
]  # fmt: skip
EXTRA_HEADERS = [
    ("Expect", "100-continue"), ("Connection", "keep-alive"), ("Accept-Encoding", "gzip"),
    ("Authorization", "Basic %zz"), ("Authorization", "Basic cm9vdDpyb290"),
    ("Authorization", "Bearer x"), ("Content-Encoding", "gzip"), ("Host", ""),
    ("X-Etcd-Index", "-1"), ("Upgrade-Insecure-Requests", "1"),
]  # fmt: skip


@dataclass
class FuzzRequest:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False
    version: bytes = b"HTTP/1.1"
    closes: bool = False  # the server answers (or refuses) it, then closes

    def encode(self) -> bytes:
        lines = [self.method.encode() + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.headers]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = _chunks(self.body)
        else:
            if self.body or self.method in ("PUT", "POST"):
                lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def __repr__(self) -> str:
        shown = self.encode()
        return f"FuzzRequest({shown[:300]!r}{'...' if len(shown) > 300 else ''})"


def _chunks(body: bytes) -> bytes:
    size = 7 if len(body) < 1000 else 4096
    out = [b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
           for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(out) + b"0\r\n\r\n"


_CHARS = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " \x00\x7f\t\n"
    + ("é日\U0001f600\ufffd\u202e\u00a0")
)


def _text(rnd: random.Random, most: int) -> str:
    return "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(0, most)))


def _value(rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.4:
        return rnd.choice(BAD_VALUES)
    if roll < 0.8:
        return str(rnd.randint(-5, 2000))
    return _text(rnd, 12)


def _pairs(rnd: random.Random) -> bytes:
    """A urlencoded string of parameters: mostly well escaped, sometimes raw (bad
    escapes and `;` left as they are). A true `wait` would rightly wait for a change."""
    out = []
    for _ in range(rnd.choice([0, 0, 0, 1, 1, 2, 3, 5])):
        name = rnd.choice(PARAMS) if rnd.random() < 0.9 else rnd.choice(["", "x", "%zz", "a=b"])
        value = _value(rnd)
        if name == "wait" and value in _TRUE:
            value = "false"
        if rnd.random() < 0.1:
            out.append(f"{quote(name, safe='%;')}={quote(value, safe='%;&=+')}")
        else:
            out.append(f"{quote(name)}={quote(value, safe='')}")
    return "&".join(out).encode()


def _segment(rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.7:
        return rnd.choice(["a", "b", "c", "dir", "q", "_hidden"])
    if roll < 0.9:
        return rnd.choice(SEGMENTS)
    if roll < 0.98:
        return quote(_text(rnd, 6), safe="")
    return "x" * rnd.choice([255, 4096, 70_000])


def _target(rnd: random.Random) -> bytes:
    path = "/v2/keys" if rnd.random() < 0.75 else rnd.choice(PREFIXES)
    segments = [_segment(rnd) for _ in range(rnd.randint(0, 4))]
    if rnd.random() < 0.02:  # around the depth limit (400), and far beyond it
        segments = ["deep"] * rnd.choice([399, 400, 401, 1100])
    if segments:
        path += "/" + "/".join(segments)
    raw = path.encode() or b"/"
    if rnd.random() < 0.03:  # absolute form, as sent to a proxy
        raw = b"http://store.example" + (raw if raw.startswith(b"/") else b"/" + raw)
    query = _pairs(rnd)
    if rnd.random() < 0.005:  # past the parameter limit (10,000)
        query = b"&".join([b"sorted=true"] * 10_001)
    if query or rnd.random() < 0.1:
        raw += b"?" + query
    if rnd.random() < 0.03:
        raw += b"#frag"
    return raw


def random_request(rnd: random.Random) -> FuzzRequest:
    closing = rnd.random() < 0.03
    method = rnd.choice(CLOSING_METHODS if closing else KEEP_ALIVE_METHODS)
    req = FuzzRequest(method, _target(rnd))
    if rnd.random() < 0.03:
        # Not UTF-8 and unescaped: httptools refuses the request line (400, then the
        # connection is closed) where Go would take the bytes as they are.
        path, mark, query = req.target.partition(b"?")
        req.target = path + b"/\xff\xfe" + mark + query
        closing = True
    kind = rnd.choice(["form", "form", "form", "none", "bytes", "big"])
    if kind == "form":
        req.body = _pairs(rnd)
        if method in ("PUT", "POST") and rnd.random() < 0.7:
            req.body = b"value=" + quote(_value(rnd)).encode() + b"&" + req.body
    elif kind == "bytes":
        req.body = rnd.randbytes(rnd.randint(0, 64))
    elif kind == "big":
        req.body = b"value=" + b"v" * rnd.choice([1000, 65_536, 300_000])
    content_type = rnd.choice(CONTENT_TYPES)
    if content_type:
        req.headers.append((b"Content-Type", content_type.encode()))
    for name, value in rnd.sample(EXTRA_HEADERS, rnd.choice([0, 0, 0, 1, 2, 3])):
        req.headers.append((name.encode(), value.encode()))
    if rnd.random() < 0.05:
        req.headers.append((b"X-Large", b"h" * rnd.choice([8000, 60_000])))
    req.chunked = bool(req.body) and rnd.random() < 0.15
    ending = rnd.random()
    if ending < 0.04:
        req.headers.append((b"Connection", b"close"))
        closing = True
    elif ending < 0.08:
        req.version = b"HTTP/1.0"
        closing = True
    req.closes = closing
    return req


def random_batch(rnd: random.Random, size: int) -> tuple[list[FuzzRequest], list[int]]:
    """Requests, and the sizes of the pipelined groups to send them in."""
    requests = [random_request(rnd) for _ in range(size)]
    groups = [rnd.choice([1, 1, 1, 2, 3, 6]) for _ in range(size)]
    return requests, groups


_FRAMING_JUNK = [
    b"Content-Length: abc", b"Content-Length: -1", b"Content-Length: 1.5",
    b"Content-Length: ", b"Content-Length: 5, 6", b"Content-Length: 5\r\nContent-Length: 6",
    b"Content-Length: 99999999999999999999999", b"Content-Length: 3\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: xchunked", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
]  # fmt: skip
_BODY_JUNK = [b"", b"value=x", b"zz\r\nvalue=x\r\n0\r\n\r\n", b"ffffffffffffffffff\r\nx\r\n",
              b"-1\r\n\r\n", b"3\r\nvalue=x\r\n0\r\n\r\n", b"5\nvalue\n0\n\n"]  # fmt: skip
_LINE_JUNK = [
    b"GET /v2/keys/a\x00b HTTP/1.1", b"GET /v2/keys/a b HTTP/1.1", b"GET /v2/keys/a",
    b"GET /v2/keys/a HTTP/2.0", b"GET /v2/keys/a HTTP/1.1\nHost: x", b"GET\t/v2/keys HTTP/1.1",
    b" GET /v2/keys HTTP/1.1", b"GET /v2/keys HTTP/1.1\r\nNo colon here",
    b"GET /v2/keys HTTP/1.1\r\nX-Fold: a\r\n  folded", b"GET /v2/keys HTTP/1.1\r\nBad Name: x",
    b"GET /v2/keys HTTP/1.1\r\nX-\xff: \xfe", b"PRI * HTTP/2.0\r\n\r\nSM",
    b"GET /v2/keys HTTP/1.1\r\nX: \x00", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"GET http://x/v2/keys HTTP/1.1", b"GET * HTTP/1.1", b"GET /v2/keys?\xff=\x00 HTTP/1.1",
]  # fmt: skip


def random_malformed(rnd: random.Random) -> bytes:
    kind = rnd.randint(0, 3)
    if kind == 0:  # a framing header that makes no sense, then some body
        return (b"PUT /v2/keys/m HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + rnd.choice(_FRAMING_JUNK) + b"\r\n\r\n" + rnd.choice(_BODY_JUNK))  # fmt: skip
    if kind == 1:  # a chunked body that is not
        return (b"PUT /v2/keys/m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                + rnd.choice(_BODY_JUNK))  # fmt: skip
    if kind == 2:  # a broken request line or header, maybe after a good request
        prefix = rnd.choice([b"", b"GET /v2/keys HTTP/1.1\r\n\r\n"])
        return prefix + rnd.choice(_LINE_JUNK) + b"\r\n\r\n"
    return rnd.randbytes(rnd.randint(1, 200))


EDGES: list[tuple[str, bytes]] = [
    ("a URL past 1 MiB", b"GET /v2/keys/" + b"u" * (1 << 20) + b" HTTP/1.1\r\n\r\n"),
    ("a 2 MiB header", b"GET /v2/keys HTTP/1.1\r\nX-Huge: " + b"h" * (2 << 20) + b"\r\n\r\n"),
    ("5,000 headers", b"GET /v2/keys HTTP/1.1\r\n" + b"X-Many: m\r\n" * 5000 + b"\r\n"),
    (
        "a form past 10 MiB",
        b"PUT /v2/keys/huge HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\nvalue=" % ((10 << 20) + 100) + b"v" * ((10 << 20) + 94),
    ),
    (
        "a chunked form past 10 MiB",
        b"PUT /v2/keys/huge HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n100006\r\nvalue="
        + b"v" * 0x100000
        + b"\r\n"
        + (b"100000\r\n" + b"v" * 0x100000 + b"\r\n") * 10
        + b"0\r\n\r\n",
    ),
    ("a million pipelined bytes of one header", b"GET / HTTP/1.1\r\nX: " + b"a" * 1_000_000),
    (
        "a chunked body without end",
        b"PUT /v2/keys/endless HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"100000\r\n" + b"v" * 0x100000 + b"\r\n") * 30,
    ),
    (
        "a Content-Length body past 10 MiB, of no form",
        b"PUT /v2/keys/huge?value=v HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (30 << 20)
        + b"b" * (30 << 20),
    ),
]
