"""Keys 1,000 levels deep, on both backends: nothing recurses on a depth a client
chooses, so every read and write of them and of their ancestors is answered (etcd
3.4 answers 200 at 1,000 levels). The default depth and length limits refuse a
deeper or longer write with error 209, and the server answers on.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.store.etcdv3.testing import ETCD_OPTIONS
from corral.store.event import encode_iteratively
from corral.store.limits import KEY_BYTES, KEY_DEPTH
from corral.testing import EtcdServer, StoreServer

from .wire import call

DEPTH = 1000  # etcd's --max-txn-ops 1024 (ETCD_OPTIONS) allows writes this deep
DEEP = "/".join(["x"] * DEPTH)
RAISED = ["--max-key-depth", str(DEPTH + 10)]


def parse(body: bytes) -> Any:
    """json.loads with room for 2,000 levels of nesting (Python's default is ~990)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        return json.loads(body)
    finally:
        sys.setrecursionlimit(limit)


def deepest(node: dict[str, Any]) -> tuple[str, int]:
    """The key at the bottom of a rendering's first branch, and its depth."""
    levels = 0
    while node.get("nodes"):
        node = node["nodes"][0]
        levels += 1
    return node["key"], levels


class Servers:
    def __init__(self) -> None:
        self.running: list[EtcdServer | StoreServer] = []

    def start(self, server: EtcdServer | StoreServer) -> Any:
        server.start()
        self.running.append(server)
        return server

    def stop(self) -> None:
        for s in reversed(self.running):
            s.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.stop()


def store(servers: Servers, tmp_path: Path, backend: str, args: list[str]) -> StoreServer:
    if backend == "etcd":
        etcd = servers.start(EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS))
        args = ["--backend", "etcd", "--etcd-endpoints", etcd.url, *args]
    return servers.start(StoreServer(tmp_path / "store", args))


@pytest.mark.parametrize("backend", ["embedded", "etcd"])
def test_a_key_1000_levels_deep(servers: Servers, tmp_path: Path, backend: str) -> None:
    s = store(servers, tmp_path, backend, RAISED)
    url = s.url
    leaf = f"/_corral/states/m1/{DEEP}"
    assert call(url, "PUT", f"/v2/keys{leaf}", form={"value": "1"}).status == 201
    put = call(url, "PUT", f"/v2/keys/deep/{DEEP}", form={"value": "2"})
    assert put.status == 201
    index = put.json["node"]["modifiedIndex"]
    assert call(url, "PUT", "/v2/keys/flat", form={"value": "3"}).status == 201
    # `corralctl unit list`: a recursive GET of an ancestor, sorted or not
    for query in ("recursive=true", "recursive=true&sorted=true"):
        answer = call(url, "GET", "/v2/keys/_corral", query=query)
        assert answer.status == 200, answer.body[:300]
        assert deepest(parse(answer.body)["node"]) == (leaf, DEPTH + 2)
    answer = call(url, "GET", "/v2/keys/", query="recursive=true")
    assert answer.status == 200, answer.body[:300]
    root = parse(answer.body)["node"]
    assert sorted(n["key"] for n in root["nodes"]) == ["/deep", "/flat"]
    assert call(url, "GET", f"/v2/keys{leaf}").json["node"]["value"] == "1"
    found = call(url, "GET", "/v2/keys/deep", query=f"wait=true&recursive=true&waitIndex={index}")
    assert found.json["node"]["key"] == f"/deep/{DEEP}"
    # removed, recursively, from the top
    assert call(url, "DELETE", "/v2/keys/deep", query="recursive=true").status == 200
    assert call(url, "GET", f"/v2/keys/deep/{DEEP}").status == 404
    assert call(url, "GET", "/v2/keys/flat").json["node"]["value"] == "3"
    if backend == "embedded":  # loaded from disk again, then expired
        s.stop()
        url = s.start().url
        answer = call(url, "GET", "/v2/keys/_corral", query="recursive=true")
        assert deepest(parse(answer.body)["node"]) == (leaf, DEPTH + 2)
        call(url, "PUT", "/v2/keys/ttl", form={"dir": "true", "ttl": "1"})
        assert call(url, "PUT", f"/v2/keys/ttl/{DEEP}", form={"value": "4"}).status == 201
        deadline = time.monotonic() + 10
        while call(url, "GET", "/v2/keys/ttl").status != 404:
            assert time.monotonic() < deadline, "the deep directory never expired"
            time.sleep(0.2)
    assert call(url, "GET", "/health").status == 200


def test_the_default_key_limits(store: StoreServer) -> None:
    url = store.url
    at_limit = "/".join(["d"] * KEY_DEPTH)
    assert call(url, "PUT", f"/v2/keys/{at_limit}", form={"value": "v"}).status == 201
    too_deep = call(url, "PUT", f"/v2/keys/{at_limit}/d", form={"value": "v"})
    assert too_deep.status == 400
    assert too_deep.json["errorCode"] == 209
    assert too_deep.json["cause"] == f"key deeper than {KEY_DEPTH} levels"
    # POST creates a key one level below the directory named
    post = call(url, "POST", f"/v2/keys/{at_limit.rsplit('/', 1)[0]}", form={"value": "v"})
    assert post.status == 201
    assert call(url, "POST", f"/v2/keys/{at_limit}", form={"value": "v"}).json["errorCode"] == 209
    long_name = "k" * (KEY_BYTES - len("/long/"))
    assert call(url, "PUT", f"/v2/keys/long/{long_name}", form={"value": "v"}).status == 201
    too_long = call(url, "PUT", f"/v2/keys/long/{long_name}k", form={"value": "v"})
    assert too_long.status == 400
    assert too_long.json["cause"] == f"key longer than {KEY_BYTES} bytes"
    # a key reaches its byte limit sooner with multi-byte characters
    wide = "%C3%A9" * (KEY_BYTES // 2)  # é, two bytes
    assert call(url, "PUT", f"/v2/keys/{wide}", form={"value": "v"}).json["errorCode"] == 209
    # reads of such keys are answered as any (nothing is created)
    beyond = "/".join(["n"] * (KEY_DEPTH + 5))
    assert call(url, "DELETE", f"/v2/keys/{beyond}").json["errorCode"] == 100
    assert call(url, "GET", f"/v2/keys/{beyond}").json["errorCode"] == 100
    got = call(url, "GET", "/v2/keys/", query="recursive=true")
    assert got.status == 200
    assert deepest(parse(got.body)["node"])[1] == KEY_DEPTH


def test_deep_json_is_encoded_as_the_c_encoder_does() -> None:
    node: dict[str, Any] = {"key": '/é"\n', "value": "v\u2028", "modifiedIndex": 3}
    for i in range(30):
        node = {"key": f"/{i}", "dir": True, "nodes": [node, {"key": "x", "ttl": -1}, []]}
    doc = {"action": "get", "node": node, "list": [], "empty": {}, "n": None, "t": True}
    expected = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_iteratively(doc) == expected
