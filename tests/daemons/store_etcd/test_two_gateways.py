"""Two gateways over one 3-member etcd cluster: what one writes, the other serves."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.testing import wait_until

from .conftest import Site

pytestmark = pytest.mark.etcd


def test_a_write_through_one_is_read_at_once_through_the_other_with_quorum(
    site: Site,
) -> None:
    a, b = Client(site.gateways[0].url), Client(site.gateways[1].url)
    for n in range(30):
        written = a.set(f"/seen/k{n}", f"v{n}")
        read = b.get(f"/seen/k{n}", quorum=True)  # no wait: linearizable
        assert read.node.value == f"v{n}"
        assert read.node.modified_index == written.node.modified_index
        assert read.etcd_index is not None and read.etcd_index >= written.node.modified_index
    listing = b.get("/seen", sorted=True, quorum=True)
    assert [n.key for n in listing.node.nodes] == sorted(f"/seen/k{n}" for n in range(30))


def test_a_plain_get_sees_the_other_gateways_write_soon_and_its_own_at_once(
    site: Site,
) -> None:
    a, b = Client(site.gateways[0].url), Client(site.gateways[1].url)
    seen_at: list[int] = []
    for n in range(30):
        written = a.set("/plain/k", f"v{n}")
        # the gateway that answered the write shows it to the next plain GET
        assert a.get("/plain/k").node.value == f"v{n}"
        # the other shows it once its watch has applied it: bounded, and never goes back
        wait_until(lambda n=n: _plain_value(b, "/plain/k") == f"v{n}", 5, f"v{n} on b")
        read = b.get("/plain/k")
        assert read.node.modified_index == written.node.modified_index
        assert read.etcd_index is not None and read.etcd_index >= written.node.modified_index
        seen_at.append(read.etcd_index)
    assert seen_at == sorted(seen_at)


def test_a_watch_on_one_is_woken_by_a_write_through_the_other(site: Site) -> None:
    a, b = Client(site.gateways[0].url), Client(site.gateways[1].url)
    start = a.set("/watched/k", "before")
    assert b.get("/watched/k", quorum=True).node.value == "before"  # b applied it: watch after
    with ThreadPoolExecutor(2) as pool:
        # one client per thread: a client holds one connection per endpoint
        key_watch = pool.submit(Client(b.endpoint).watch, "/watched/k", timeout=10)
        tree_watch = pool.submit(
            Client(b.endpoint).watch, "/watched", index=start.node.modified_index + 1,
            recursive=True, timeout=10,
        )  # fmt: skip
        wait_until(lambda: b.stats("store")["watchers"] >= 2, 10, "both watches registered")
        written = a.set("/watched/k", "after")
        for fut in (key_watch, tree_watch):
            event = fut.result(timeout=10)
            assert (event.action, event.node.value) == ("set", "after")
            assert event.node.modified_index == written.node.modified_index
            assert event.prev_node is not None and event.prev_node.value == "before"


def _plain_value(client: Client, key: str) -> str | None:
    try:
        return client.get(key).node.value
    except EtcdError as exc:
        assert exc.code == 100, exc  # not there yet
        return None


def test_compare_and_swap_through_both_lets_exactly_one_win(site: Site) -> None:
    urls = [g.url for g in site.gateways]
    Client(urls[0]).set("/counter", "0")

    def bump(url: str) -> int:
        client = Client(url)
        wins = 0
        for _ in range(40):
            current = client.get("/counter", quorum=True)
            try:
                client.set(
                    "/counter", str(int(current.node.value) + 1),
                    prev_index=current.node.modified_index,
                )  # fmt: skip
                wins += 1
            except EtcdError as exc:
                assert exc.code == 101, exc
        return wins

    with ThreadPoolExecutor(4) as pool:
        wins = sum(pool.map(bump, urls * 2))
    assert int(Client(urls[1]).get("/counter", quorum=True).node.value) == wins > 0


def test_in_order_keys_through_both_are_unique_and_in_creation_order(site: Site) -> None:
    urls = [g.url for g in site.gateways]

    def append(url: str) -> list[int]:
        client = Client(url)
        return [client.append("/queue", "job").node.created_index for _ in range(25)]

    with ThreadPoolExecutor(4) as pool:
        created = [i for batch in pool.map(append, urls * 2) for i in batch]
    listing = Client(urls[0]).get("/queue", sorted=True, quorum=True).node.nodes
    assert len(listing) == len(created) == len(set(created)) == 100
    # sorted by name is sorted by creation: names are the creation index
    assert [n.created_index for n in listing] == sorted(created)
    assert all(n.key == f"/queue/{n.created_index:020d}" for n in listing)


def test_expiry_is_seen_through_the_other_gateway(site: Site) -> None:
    a, b = Client(site.gateways[0].url), Client(site.gateways[1].url)
    written = a.set("/lease/k", "v", ttl=2)
    event = b.watch("/lease/k", index=written.node.modified_index + 1, timeout=15)
    assert event.action == "expire"
    assert event.prev_node is not None and event.prev_node.value == "v"
    # a plain GET through the other gateway shows the expiry once its watch has it
    wait_until(lambda: _plain_value(a, "/lease/k") is None, 5, "expiry seen through a")
    # a refresh through one keeps the key alive and wakes no watcher on the other
    kept = a.set("/lease/kept", "v", ttl=2)
    with ThreadPoolExecutor(1) as pool:
        quiet = pool.submit(
            Client(b.endpoint).watch, "/lease/kept", index=kept.node.modified_index + 1, timeout=15
        )
        for _ in range(3):
            threading.Event().wait(1.0)  # the TTL would pass without the refreshes
            a.refresh("/lease/kept", 2)
        assert not quiet.done()
        assert b.get("/lease/kept").node.value == "v"
        a.delete("/lease/kept")
        assert quiet.result(timeout=10).action == "delete"


def test_history_compacted_by_etcd_is_error_401(site: Site, tmp_path: Path) -> None:
    a = Client(site.gateways[0].url)
    first = a.set("/compacted/k", "0").node.modified_index
    last = max(a.set("/compacted/k", str(n)).node.modified_index for n in range(1, 20))
    body = json.dumps({"revision": str(last - 5), "physical": True}).encode()
    req = urllib.request.Request(site.members[0].url + "/v3/kv/compaction", data=body)
    urllib.request.urlopen(req, timeout=10).close()
    late = Client(site.add_gateway(tmp_path / "gw-late").url)  # its feed starts after it
    with pytest.raises(EtcdError) as cleared:
        late.watch("/compacted/k", index=first, timeout=10)
    assert (cleared.value.code, cleared.value.status) == (401, 400)
    kept = late.watch("/compacted/k", index=last, timeout=10)
    assert kept.node.value == "19"
