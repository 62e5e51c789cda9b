"""Every limit a client's request meets, with why it is what it is.

The defaults suit any fleet this project knows; `corral-store` has a flag for each one
an operator may need to move (see cli.py). What a client sees when it crosses one:
- the request line longer than `url_bytes`: 414, connection closed;
- header lines (names, values, separators) beyond `header_bytes`: 431, closed;
- a body beyond `body_bytes`, counted as it streams (chunked or not): etcd's form error
  210 at once, without reading the rest, connection closed;
- more than `form_params` parameters in the query string, or in a form body: etcd's
  form error 210;
- a PUT or POST of a key longer than `key_bytes` or deeper than `key_depth` (a POST's
  key is one level below the directory named): error 209;
- a connection beyond `connections` open at once: 503, closed at once.
A connection holds at most one watcher or stream (HTTP/1.1 answers in order, so a
long poll holds the requests behind it), so `connections` bounds watchers too.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.etcd_errors import InvalidField, InvalidForm

# Go's http.DefaultMaxHeaderBytes, etcd's: etcd answers 431 beyond it.
HEADER_BYTES = 1 << 20
# The same for the request line: a v2 client may put a value in the query string.
URL_BYTES = 1 << 20
# Go's limit on a form body (net/http's ParseForm), where etcd refuses with 210.
BODY_BYTES = 10 << 20
# Go's url.ParseQuery limit (urlmaxqueryparams): each one costs a list entry.
FORM_PARAMS = 10_000
# A node keeps its full path, so one write of a key N levels deep and L bytes long
# creates about N * L / 2 bytes of paths: this bounds it. Twice the longest key the
# etcd conformance suite writes (8 KiB).
KEY_BYTES = 16 << 10
# A recursive GET nests two JSON levels per key level; Python's json (corralctl, the
# fleet) parses about 990: 400 levels leave clients room. etcd has no depth limit.
KEY_DEPTH = 400
# Each connection is a file descriptor and at most one watcher: the server raises its
# descriptor limit to the hard limit at start (as Go does) and keeps this many below it.
CONNECTIONS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request or connection may make the server hold."""

    url_bytes: int = URL_BYTES
    header_bytes: int = HEADER_BYTES
    body_bytes: int = BODY_BYTES
    form_params: int = FORM_PARAMS
    key_bytes: int = KEY_BYTES
    key_depth: int = KEY_DEPTH
    connections: int = CONNECTIONS

    def check_written_key(self, key: str, method: str) -> None:
        """Raise error 209 for a key a write may not create (a POST creates one level
        below `key`)."""
        if len(key) > self.key_bytes // 4 and len(key.encode()) > self.key_bytes:
            raise InvalidField(f"key longer than {self.key_bytes} bytes")
        depth = key.rstrip("/").count("/") + (method == "POST")
        if depth > self.key_depth:
            raise InvalidField(f"key deeper than {self.key_depth} levels")

    def check_params(self, count: int) -> None:
        if count > self.form_params:
            raise InvalidForm(f"more than {self.form_params} parameters")


DEFAULT = Limits()
