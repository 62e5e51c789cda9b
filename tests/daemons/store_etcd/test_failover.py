"""Failures: the etcd leader SIGKILLed under load, a gateway killed and restarted.

Writers and watchers run through both gateways while the leader dies. Required:
every write answered 2xx is there afterwards, every writer has a write sent after the
kill answered within 3 s of the kill (a write sent before it may be answered after it
and prove nothing), every watcher sees every event exactly once and in order, and the
killed member rejoins. A killed gateway disturbs no other; restarted, its clients carry on.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import pytest

from corral.client import Client, Result, StoreError, WatchTimeout
from corral.testing import EtcdServer, wait_until

from .conftest import Site, leader, member_status

pytestmark = pytest.mark.etcd

RECOVERY = 3.0  # seconds within which writes must succeed again after the leader dies


@dataclass
class Writer:
    url: str
    name: str
    acked: dict[int, int] = field(default_factory=dict)  # i -> modifiedIndex
    answered: list[tuple[float, float]] = field(default_factory=list)  # (sent, acked)
    failures: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        client = Client(self.url, timeout=15)
        i = 0
        while not stop.is_set():
            i += 1
            sent = time.monotonic()
            try:
                result = client.set(f"/fo/{self.name}/{i:06d}", str(i))
            except StoreError as exc:  # refused or unavailable: allowed, never a 2xx
                self.failures.append(f"{i}: {exc}")
                continue
            self.acked[i] = result.node.modified_index
            self.answered.append((sent, time.monotonic()))

    def resumed(self, killed_at: float) -> float | None:
        """Seconds from the kill to the answer of the first write sent after it."""
        after = [acked for sent, acked in self.answered if sent > killed_at]
        return after[0] - killed_at if after else None


@dataclass
class Watcher:
    url: str
    index: int
    seen: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, until: threading.Event, last: list[int]) -> None:
        client = Client(self.url, timeout=15)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if until.is_set() and self.seen and self.seen[-1] >= last[0]:
                return
            try:
                event = client.watch("/fo", index=self.index, recursive=True, timeout=1.0)
            except WatchTimeout:
                continue
            except StoreError as exc:
                self.errors.append(str(exc))
                time.sleep(0.05)  # the gateway answered an error: ask again shortly
                continue
            self.seen.append(event.node.modified_index)
            self.index = event.node.modified_index + 1


def serializable_value(member: EtcdServer, key: str) -> str | None:
    """What `member` itself holds for a gateway key (v3 range, serializable)."""
    body = json.dumps(
        {"key": base64.b64encode(b"/corral/keys" + key.encode()).decode(), "serializable": True}
    ).encode()
    req = urllib.request.Request(member.url + "/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        kvs = json.load(resp).get("kvs") or []
    if not kvs:
        return None
    return base64.b64decode(kvs[0]["value"]).split(b"\n", 3)[3].decode()


def test_the_leader_dies_under_load(site: Site) -> None:
    urls = [g.url for g in site.gateways]
    start = Client(urls[0]).set("/fo/start", "0").node.modified_index
    writers = [Writer(urls[n % 2], f"w{n}") for n in range(4)]
    watchers = [Watcher(url, start + 1) for url in urls]
    stop_writing, stop_watching = threading.Event(), threading.Event()
    last = [0]
    threads = [threading.Thread(target=w.run, args=(stop_writing,)) for w in writers]
    threads += [threading.Thread(target=w.run, args=(stop_watching, last)) for w in watchers]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(len(w.acked) >= 20 for w in writers), 30, "writers running")
        victim = leader(site.members)
        killed_at = time.monotonic()
        victim.kill()
        wait_until(
            lambda: all(w.resumed(killed_at) is not None for w in writers),
            30, "writes sent after the leader died answered",
        )  # fmt: skip
        time.sleep(1.0)  # let the writers run on the new leader for a while
    finally:
        stop_writing.set()
        for t in threads[: len(writers)]:
            t.join(30)
    everything = Client(urls[1]).get("/fo", recursive=True, quorum=True)
    present = {n.key: n for d in everything.node.nodes if d.dir for n in d.nodes}  # /fo/wN/i
    last[0] = max(n.modified_index for n in present.values())
    stop_watching.set()
    for t in threads[len(writers) :]:
        t.join(150)

    for w in writers:
        for i, index in w.acked.items():
            node = present.get(f"/fo/{w.name}/{i:06d}")
            assert node is not None, f"{w.name} write {i} was acknowledged and is lost"
            assert (node.value, node.modified_index) == (str(i), index)
        resumed = w.resumed(killed_at)
        assert resumed is not None and resumed < RECOVERY, (
            f"{w.name}: first write sent after the leader died answered {resumed:.2f}s "
            f"after the kill; failures: {w.failures[:5]}"
        )
    expected = sorted(n.modified_index for n in present.values())
    for w in watchers:
        assert w.seen == expected, (
            f"watcher on {w.url}: {len(w.seen)} events for {len(expected)} writes; "
            f"duplicates {len(w.seen) - len(set(w.seen))}, "
            f"missing {sorted(set(expected) - set(w.seen))[:10]}; errors {w.errors[:3]}"
        )

    # the killed member comes back and catches up with what it missed
    victim.start()
    newest = max(present.values(), key=lambda n: n.modified_index)
    wait_until(
        lambda: serializable_value(victim, newest.key) == newest.value, 30, "member caught up"
    )
    statuses = [member_status(m) for m in site.members]
    assert len({s["leader"] for s in statuses}) == 1
    assert Client(urls[0]).set("/fo/after", "x").node.value == "x"


def test_a_killed_gateway_disturbs_no_other_and_its_clients_carry_on(site: Site) -> None:
    a_server = site.gateways[0]
    a, b = Client(a_server.url, timeout=10), Client(site.gateways[1].url, timeout=10)
    before = a.set("/gk/before", "0").node.modified_index
    results: list[Result] = []
    waiting = threading.Thread(
        target=lambda: results.append(Client(b.endpoint).watch("/gk/b", timeout=20))
    )
    waiting.start()
    wait_until(lambda: Client(b.endpoint).stats("store")["watchers"] >= 1, 10, "watch on b")
    a_server.kill()
    for n in range(20):
        assert b.set(f"/gk/k{n:02d}", str(n)).node.value == str(n)
        assert b.get(f"/gk/k{n:02d}").node.value == str(n)
    b.set("/gk/b", "woken")
    waiting.join(20)
    assert results and results[0].node.value == "woken"

    a_server.start()  # same URL: the same clients reach it again
    events = a.watch_forever("/gk", index=before + 1, recursive=True)
    seen = [next(events).node.key for _ in range(21)]
    assert seen == [f"/gk/k{n:02d}" for n in range(20)] + ["/gk/b"]
    a.set("/gk/after-restart", "1")
    assert b.get("/gk/after-restart", quorum=True).node.value == "1"
