"""Keys are text: a path that is not UTF-8 is refused, never folded into another key;
and an absolute-form request target is served as etcd serves it.

etcd keeps keys as bytes, so `/b%FF` and `/b%FE` are two keys there (both shown as
"/b\ufffd"). The store keeps keys as text on disk and in etcd v3 alike: it refuses
them with error 209 on both backends rather than merge them into one.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from corral.testing import EtcdServer

from .wire import call


def exchange(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_etcd_keeps_keys_that_are_not_utf8_apart(etcd: EtcdServer) -> None:
    """What the store departs from, shown on the real etcd 3.4."""
    assert call(etcd.url, "PUT", "/v2/keys/k/b%FF", form={"value": "ff"}).status == 201
    assert call(etcd.url, "PUT", "/v2/keys/k/b%FE", form={"value": "fe"}).status == 201
    listed = call(etcd.url, "GET", "/v2/keys/k").json["node"]["nodes"]
    assert sorted(n["value"] for n in listed) == ["fe", "ff"]


def test_a_key_that_is_not_utf8_is_refused_not_merged(url: str) -> None:
    for path in ("/v2/keys/k/b%FF", "/v2/keys/k/b%FE", "/v2/keys/k/%C3"):
        for method in ("PUT", "GET", "DELETE", "POST"):
            answer = call(url, method, path, form={"value": "v"} if method == "PUT" else None)
            assert answer.status == 400, answer.body
            assert answer.json["errorCode"] == 209
            assert answer.json["cause"] == "the path is not valid UTF-8"
    for target in (b"/v2/keys/k/b\xff?value=v", b"/v2/keys/k/b\xfe"):  # not even escaped
        raw = exchange(url, b"PUT " + target + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 400"), raw
    assert call(url, "GET", "/v2/keys/k").status == 404  # nothing was written
    assert call(url, "PUT", "/v2/keys/k/b%C3%A9", form={"value": "e"}).status == 201
    assert call(url, "GET", "/v2/keys/k/b%C3%A9").json["node"]["value"] == "e"


def absolute_form_is_served(server: str) -> None:
    call(server, "PUT", "/v2/keys/abs", form={"value": "here"})
    close = b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    for target in (b"http://h/v2/keys/abs", b"HTTP://h:1/v2/keys/abs?quorum=true"):
        raw = exchange(server, b"GET " + target + close)
        assert raw.startswith(b"HTTP/1.1 200"), (server, raw[:300])
        assert b'"value":"here"' in raw
    assert exchange(server, b"PUT http://h/v2/keys/abs?value=there" + close).startswith(
        b"HTTP/1.1 200"
    )
    assert call(server, "GET", "/v2/keys/abs").json["node"]["value"] == "there"


def test_an_absolute_form_target_is_served(url: str) -> None:
    absolute_form_is_served(url)


def test_etcd_serves_an_absolute_form_target(etcd: EtcdServer) -> None:
    absolute_form_is_served(etcd.url)
