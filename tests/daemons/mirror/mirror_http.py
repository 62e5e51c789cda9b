"""Test helper: raw HTTP/1.1 exchanges with a server, bytes exactly as given."""

from __future__ import annotations

import socket
import time


def get(target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    """The bytes of one request for `target` with these header lines."""
    return b"%s %s HTTP/1.1\r\nHost: m\r\n%s\r\n" % (method, target,
                                                    b"".join(h + b"\r\n" for h in headers))


def read_response(f, head_only: bool) -> tuple[int, dict[str, str], bytes] | None:
    """One response from a socket file: status, headers (lower-case), body; None at EOF."""
    line = f.readline(65536)
    if not line:
        return None
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while (h := f.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if line.startswith(b"HTTP/1.0 "):  # aiohttp's answer to an unparseable request: the last
        headers["connection"] = "close"
    if head_only or status in (204, 304):
        return status, headers, b""
    if "content-length" not in headers:  # the body runs to the end of the connection
        headers["connection"] = "close"
        return status, headers, f.read()
    return status, headers, f.read(int(headers["content-length"]))


def exchange(port: int, requests: list[bytes], timeout: float = 10.0,
             pieces: list[bytes] | None = None, pause: float = 0.0,
             ) -> list[tuple[int, dict[str, str], bytes]]:
    """Send `requests` pipelined on one connection; the responses that came back.

    `pieces`, joined, are the requests' bytes as they are sent instead, each its own
    write, `pause` seconds apart (a client whose requests trickle in).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if pieces is None:
            sock.sendall(b"".join(requests))
        else:
            assert b"".join(pieces) == b"".join(requests)
            try:
                for piece in pieces:
                    sock.sendall(piece)
                    time.sleep(pause)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed by the server: what it answered before is read below
        answers = []
        with sock.makefile("rb") as f:
            for request in requests:
                answer = read_response(f, request.startswith(b"HEAD "))
                if answer is None:
                    break
                answers.append(answer)
                if answer[1].get("connection", "").lower() == "close":
                    break
        return answers
