"""What is in etcd is untrusted input: records written straight into etcd (with its own
v3 JSON API) by something other than a gateway are skipped or read safely, each
kind reported in one log line, and never stop the feed, a read or a new gateway.

- junk op records (not JSON, the wrong shape, naming a key their revision did not
  change): no event for them; the feed applies the rest, watches fire, GETs answer at
  once, a new gateway starts promptly;
- foreign keys under /corral/keys: a plain value (or one with an expiry no v2 node can
  have) is a file holding it; a name no v2 request can give (`//`, `.`, trailing `/`,
  not UTF-8) is left out; keys put under a file go when the file is deleted; a lease
  on one expires it; a value of MiBs is served.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.store.etcdv3.testing import gateway
from corral.testing import EtcdServer, StoreServer, wait_until

from . import etcd_v3

pytestmark = pytest.mark.etcd

JUNK_OPS = [
    b"junk{",
    b"[1, 2]",
    b'{"a": "set", "n": "not a node", "p": null, "c": 0, "r": false, "w": "x"}',
    b'{"a": "launch", "n": {"key": "/k"}, "p": null, "c": 0, "r": false, "w": "x"}',
    # a gateway's shape, but its revision changes no /ghost: no watcher may see it
    b'{"a": "set", "n": {"key": "/ghost"}, "p": null, "c": 0, "r": false, "w": "x"}',
    b"\xff\xfe",
]
FAR_FUTURE = "f" + "9" * 30 + "\nw\n \nlooks like a gateway's"


@pytest.fixture
def gateways(member: EtcdServer, tmp_path: Path) -> Iterator[list[StoreServer]]:
    started = [gateway(tmp_path / f"gw-{n}", [member]).start() for n in range(2)]
    try:
        yield started
    finally:
        for g in started:
            g.stop()


def _timed_get(client: Client, key: str) -> tuple[str | None, float]:
    start = time.monotonic()
    value = client.get(key).node.value
    return value, time.monotonic() - start


def _clean_log(server: StoreServer, kind: str) -> None:
    log = server.log_text()
    assert "Traceback" not in log and "watch feed failed" not in log, log
    reports = [line for line in log.splitlines() if f"untrusted data in etcd: {kind}" in line]
    assert 1 <= len(reports) <= 2, log  # reported, but not once per record or per retry


def test_junk_op_records_are_skipped_and_the_fleet_keeps_serving(
    member: EtcdServer, gateways: list[StoreServer], tmp_path: Path
) -> None:
    a, b = (Client(g.url) for g in gateways)
    a.set("/k", "v1")
    first_junk = 0
    for junk in JUNK_OPS:
        revision = etcd_v3.put(member, "/corral/op", junk)
        first_junk = first_junk or revision
    assert b.get("/k", quorum=True).node.value == "v1"  # b has applied the junk: watch after
    with ThreadPoolExecutor(2) as pool:
        watch = pool.submit(Client(b.endpoint).watch, "/k", timeout=10)
        since_junk = pool.submit(
            Client(b.endpoint).watch, "/", index=first_junk, recursive=True, timeout=10
        )
        wait_until(lambda: b.stats("store")["watchers"] >= 1, 10, "the watch registered")
        written = a.set("/k", "v2")
        for fut in (watch, since_junk):  # the next event after the junk is this write
            event = fut.result(timeout=10)
            assert (event.action, event.node.key, event.node.value) == ("set", "/k", "v2")
            assert event.node.modified_index == written.node.modified_index
    for client in (a, b):
        value, took = _timed_get(client, "/k")
        assert value == "v2" and took < 0.5, took  # no wait for a feed stuck behind junk
    started = time.monotonic()
    late = gateway(tmp_path / "gw-late", [member]).start()
    try:
        assert time.monotonic() - started < 8  # not held up catching up with the junk
        c = Client(late.url)
        assert c.get("/k").node.value == "v2"
        with ThreadPoolExecutor(1) as pool:
            watch = pool.submit(Client(late.url).watch, "/k", timeout=10)
            wait_until(lambda: c.stats("store")["watchers"] >= 1, 10, "the watch registered")
            a.set("/k", "v3")
            assert watch.result(timeout=10).node.value == "v3"
        etcd_v3.put(member, "/corral/op", b"junk again")
        assert _timed_get(c, "/k")[0] == "v3"
    finally:
        late.stop()
    for g in gateways:
        _clean_log(g, "op record")


def test_foreign_keys_are_read_safely_or_left_out(
    member: EtcdServer, gateways: list[StoreServer], tmp_path: Path
) -> None:
    a, b = (Client(g.url) for g in gateways)
    a.set("/mine", "ok")
    big = "x" * (2 << 20)
    lease = etcd_v3.grant(member, 1)
    for key, value in [
        ("/corral/keys/plain", "just text"),
        ("/corral/keys/plain/child", "under a file"),
        ("/corral/keys/far", FAR_FUTURE),
        ("/corral/keys/big", big),
        ("/corral/keys/a//b", "double slash"),
        ("/corral/keys/dot/./x", "dot"),
        ("/corral/keys/trail/", "trailing slash"),
        (b"/corral/keys/\xff\xfe", "not UTF-8"),
        ("/corral/keys/", "the root itself"),
    ]:
        etcd_v3.put(member, key, value)
    etcd_v3.put(member, "/corral/keys/leased", "by hand", lease=lease)
    late = gateway(tmp_path / "gw-late", [member]).start()  # reads them all at start
    try:
        clients = [a, b, Client(late.url)]
        for client in clients:
            wait_until(lambda c=client: _has(c, "/plain"), 10, "the foreign keys applied")
            listing = client.get("/", recursive=True, sorted=True)
            keys = {n.key for n in listing.node.nodes}
            assert {"/mine", "/plain", "/far", "/big"} <= keys <= {
                "/mine", "/plain", "/far", "/big", "/leased",
            }  # fmt: skip
            assert client.get("/far").node.value == FAR_FUTURE
            assert client.get("/far").node.ttl is None
            assert client.get("/big").node.value == big
            assert client.get("/plain").node.value == "just text"
        # the lease takes its key, as it would a gateway's
        wait_until(lambda: not any(_has(c, "/leased") for c in clients), 10, "leased expired")
        a.delete("/plain", recursive=True)
        assert etcd_v3.get(member, "/corral/keys/plain/child") is None
        a.set_dir("/plain")
        for client in clients:
            wait_until(lambda c=client: _is_dir(c, "/plain"), 10, "/plain a directory")
            assert client.get("/plain", recursive=True).node.nodes == []
        with ThreadPoolExecutor(1) as pool:
            watch = pool.submit(Client(b.endpoint).watch, "/mine", timeout=10)
            wait_until(lambda: b.stats("store")["watchers"] >= 1, 10, "the watch registered")
            a.set("/mine", "still")
            assert watch.result(timeout=10).node.value == "still"
    finally:
        late.stop()
    for g in [*gateways, late]:
        _clean_log(g, "key")


def _is_dir(client: Client, key: str) -> bool:
    try:
        return client.get(key).node.dir
    except EtcdError as exc:
        assert exc.code == 100, exc  # not applied yet
        return False


def _has(client: Client, key: str) -> bool:
    try:
        client.get(key)
    except EtcdError as exc:
        assert exc.code == 100, exc
        return False
    return True
