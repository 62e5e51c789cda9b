"""A gateway cut off from etcd while etcd compacts what it had not read.

Its watch feed comes back to find a gap: every watcher waiting on it (long poll and
stream) is answered with error 401, so its client re-reads instead of silently
missing events; the gateway's replica is read afresh, so reads show the writes made
during the gap; watches from before the gap are refused, later ones work.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from corral.client import Client, EtcdError
from corral.testing import StoreServer, wait_until

from .conftest import Site
from .relay import Relay

pytestmark = pytest.mark.etcd


@pytest.fixture
def relayed(site: Site, tmp_path: Path) -> Iterator[tuple[StoreServer, Relay]]:
    """A gateway that reaches etcd only through a relay the test can cut."""
    relay = Relay(site.members[0].client_port)
    args = ["--backend", "etcd", "--etcd-endpoints", relay.url]
    gateway = StoreServer(tmp_path / "gw-relayed", args)
    try:
        yield gateway.start(), relay
    finally:
        gateway.stop()
        relay.close()


def _stream(url: str, path: str, lines: list[dict[str, object]]) -> None:
    """Every line of a streamed watch, until the server ends it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"/v2/keys{path}?wait=true&recursive=true&stream=true")
        resp = conn.getresponse()
        while line := resp.readline():
            lines.append(json.loads(line))
    finally:
        conn.close()


def _compact(site: Site, revision: int) -> None:
    body = json.dumps({"revision": str(revision), "physical": True}).encode()
    req = urllib.request.Request(site.members[1].url + "/v3/kv/compaction", data=body)
    urllib.request.urlopen(req, timeout=10).close()


def test_watchers_waiting_across_a_compaction_get_401_and_reads_are_rebuilt(
    site: Site, relayed: tuple[StoreServer, Relay]
) -> None:
    gateway, relay = relayed
    a, c = Client(site.gateways[0].url), Client(gateway.url, timeout=30)
    a.set("/gap/kept", "0")
    before = a.set("/gap/gone", "0").node.modified_index
    assert c.get("/gap/gone", quorum=True).node.value == "0"

    streamed: list[dict[str, object]] = []
    stream = threading.Thread(target=_stream, args=(gateway.url, "/gap", streamed))
    with ThreadPoolExecutor(1) as pool:
        long_poll = pool.submit(Client(gateway.url, timeout=30).watch, "/gap/kept", timeout=30)
        stream.start()
        wait_until(lambda: c.stats("store")["watchers"] >= 2, 10, "both watches registered")

        relay.cut()
        for n in range(5):
            a.set(f"/gap/new{n}", str(n))
        a.delete("/gap/gone")
        written = a.set("/gap/kept", "1").node.modified_index
        _compact(site, written)
        relay.restore()

        with pytest.raises(EtcdError) as waited:
            long_poll.result(timeout=30)
        assert waited.value.code == 401
        assert waited.value.message == "The event in requested index is outdated and cleared"
        assert waited.value.cause.startswith("the requested history has been cleared [")
        stream.join(30)
        assert not stream.is_alive(), "the stream was not ended"
        assert [line.get("errorCode") for line in streamed] == [401], streamed

    # the replica was read afresh: the gap's writes and delete are there
    listing = c.get("/gap", sorted=True, quorum=True).node.nodes
    assert [(n.key, n.value) for n in listing] == [("/gap/kept", "1")] + [
        (f"/gap/new{n}", str(n)) for n in range(5)
    ]
    assert c.get("/gap/kept").node.modified_index == written
    with pytest.raises(EtcdError) as gone:
        c.get("/gap/gone")
    assert gone.value.code == 100
    # a watch from before the gap is refused; one after it is answered
    with pytest.raises(EtcdError) as cleared:
        c.watch("/gap", index=before + 1, recursive=True, timeout=10)
    assert (cleared.value.code, cleared.value.status) == (401, 400)
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(c.watch, "/gap/kept", index=written + 1, timeout=15)
        a.set("/gap/kept", "2")
        assert later.result(timeout=15).node.value == "2"
