"""A store too slow to answer in time (requests held back by a recording proxy in front
of a real corral-store) does not stop an agent's threads: once it answers again the
agent heartbeats on and its record never expires."""

from __future__ import annotations

import time
from pathlib import Path

from fleet_harness import Fleet

from corral.client import Client
from corral.request_log import RequestLog

TTL = 3  # seconds; the agent's requests time out after TTL/3


def test_an_agent_outlives_a_store_that_answers_too_late(store, tmp_path: Path) -> None:
    proxy = RequestLog(store.url).start()
    fleet = Fleet(proxy.url, tmp_path / "fleet")
    direct = Client(store.url)
    try:
        agent = fleet.add("m1", ttl=TTL)
        fleet.wait_machines("m1")
        proxy.hold()
        time.sleep(TTL / 3 * 2)  # each thread sends a request in that time: it times out
        proxy.release()
        for _ in range(3 * TTL):  # three TTLs later the record still stands
            time.sleep(1)
            assert direct.get("/_corral/machines/m1").node.value
        assert agent.alive()
        assert "Traceback" not in agent.log_text(), agent.log_text()
    finally:
        direct.close()
        fleet.close()
        proxy.stop()
