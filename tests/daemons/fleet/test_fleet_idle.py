"""An idle fleet costs the store its heartbeats only: agents (one of them the engine)
with nothing changing send nothing but their records' refreshes and the engine's lease
renewals; other machines' heartbeats wake no one, and a machine that lost the election
waits for the lease to go with one watch. Every request passes a recording proxy in
front of a real corral-store; the agents are real processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fleet_harness import LOOP, Fleet

from corral.client import Client
from corral.fleet.election import Leadership
from corral.fleet.records import LEADER, MACHINES
from corral.request_log import RequestLog

TTL = 2  # seconds: a heartbeat every TTL/3


def test_idle_agents_send_their_heartbeats_and_nothing_else(store, tmp_path: Path) -> None:
    proxy = RequestLog(store.url).start()
    fleet = Fleet(proxy.url, tmp_path / "fleet")
    try:
        ids = ("m1", "m2", "m3")
        for mid in ids:
            fleet.add(mid, ttl=TTL)
        fleet.wait_machines(*ids)
        fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("a.service", LOOP))
        fleet.wait_active("a.service")
        time.sleep(TTL)  # the last state reports and their watch events are through
        idle = proxy.mark()
        seconds = 3 * TTL
        time.sleep(seconds)
        sent = proxy.since(idle)
        beats = {f"/v2/keys{MACHINES}/{mid}" for mid in ids} | {f"/v2/keys{LEADER}"}
        others = [(m, p) for m, p in sent if not (m == "PUT" and p in beats)]
        assert others == []
        # each machine refreshes its record every TTL/3, the engine its lease too
        assert len(sent) <= (len(ids) + 1) * (seconds / (TTL / 3) + 1)
    finally:
        fleet.close()
        proxy.stop()


def test_a_losing_candidate_asks_nothing_until_the_lease_goes(store) -> None:
    proxy = RequestLog(store.url).start()
    holder = Client(store.url)
    waiting = Client(proxy.url)
    try:
        first = Leadership(holder, "m1", 5, lambda: Client(store.url))
        second = Leadership(waiting, "m2", 5, lambda: Client(proxy.url))
        assert first.campaign() and not second.campaign()
        vacant = threading.Event()
        mark = proxy.mark()
        second.wait_vacant(vacant)
        for _ in range(3):
            assert first.campaign()  # a renewal refreshes the lease: it wakes no one
            assert not vacant.wait(0.3)
        assert [m for m, _ in proxy.since(mark)] == ["GET"]  # the one watch
        assert "wait=true" in proxy.since(mark)[0][1]
        first.resign()
        assert vacant.wait(5)
        assert second.campaign()
    finally:
        holder.close()
        waiting.close()
        proxy.stop()
