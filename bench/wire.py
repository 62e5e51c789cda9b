"""HTTP/1.1 on the wire for the load generator, without I/O: request bytes and a
response parser that yields each complete response (Content-Length or chunked).

Requests are built by hand so the generator spends its time on the server, not on a
client library. Responses are parsed by httptools (llhttp); bodies are kept, since a
watch must check which event it got. Invariant: `ResponseReader.feed` returns
responses in the order the server sent them, each exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httptools


def keys_path(key: str) -> str:
    return "/v2/keys" + quote(key if key.startswith("/") else "/" + key, safe="/")


def get_request(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def put_request(host: str, path: str, value: bytes) -> bytes:
    """A v2 keys PUT; `value` must be form-safe (letters, digits, `-_.~`)."""
    body = b"value=" + value
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    etcd_index: int | None


class ResponseReader:
    """Feed bytes as they arrive; get back the responses they complete."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._index: int | None = None
        self._done: list[Response] = []

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []
        self._index = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-etcd-index":
            try:
                self._index = int(value)
            except ValueError:
                self._index = None

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        self._done.append(Response(status, b"".join(self._body), self._index))

    def feed(self, data: bytes) -> list[Response]:
        """Raises httptools.HttpParserError on bytes that are not HTTP/1.1 responses."""
        self._parser.feed_data(data)
        done, self._done = self._done, []
        return done
