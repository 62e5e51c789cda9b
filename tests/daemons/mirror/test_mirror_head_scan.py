"""The head scan of `corral-mirror serve` decides the same, however a client's bytes are
cut into pieces: what reaches the HTTP parser, the refusal and its status."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.mirror.head_scan import HeadLimits, HeadScan, Refusal

LIMITS = HeadLimits(request_line=40, header_fields=4, header_bytes=60)
LINES = st.sampled_from([
    b"GET /root.json HTTP/1.1", b"GET /" + b"a" * 35 + b" HTTP/1.1", b"", b"Host: m",
    b"X: " + b"y" * 20, b"X: " + b"y" * 50, b"Content-Length: 0", b"Content-Length: 3",
    b"Transfer-Encoding: chunked", b"abc", b"\r",
])


def scan(pieces: list[bytes]) -> tuple[bytes, Refusal | None, int]:
    heads = HeadScan(LIMITS)
    passed = b""
    for piece in pieces:
        scanned = heads.feed(piece)
        passed += scanned.passed
        if scanned.refusal is not None:
            return passed, scanned.refusal, heads.heads
    return passed, None, heads.heads


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=14), st.lists(st.integers(0, 400), max_size=8))
def test_the_same_however_cut(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\r\n" for line in lines)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert scan(pieces) == scan([data]) == scan([bytes([b]) for b in data])
    passed, refusal, _ = scan([data])
    assert data.startswith(passed)
    if refusal is None:
        assert passed == data or b"Content-" in data or b"Transfer-" in data


def test_limits_crossed_by_one_byte() -> None:
    line = b"GET /" + b"a" * 26 + b" HTTP/1.1"  # 40 bytes
    assert scan([line + b"\r\n\r\n"]) == (line + b"\r\n\r\n", None, 1)
    assert scan([line + b"a"])[1] == Refusal(414, "request line longer than 40 bytes")
    fields = b"".join(b"X%d: y\r\n" % i for i in range(4))
    assert scan([line + b"\r\n" + fields + b"\r\n"])[2] == 1
    assert scan([line + b"\r\n" + fields + b"X: y\r\n"])[1].status == 431
    fill = b"X: " + b"y" * 55  # 58 bytes and its CRLF: 60
    assert scan([line + b"\r\n" + fill + b"\r\n\r\n"])[2] == 1
    assert scan([line + b"\r\n" + fill + b"y"])[1].status == 431  # before its end
