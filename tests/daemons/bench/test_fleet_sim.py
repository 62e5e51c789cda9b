"""The fleet-scale simulator makes, per machine, what a real agent and corral-updated
make: the watches of what concerns the machine, heartbeats, the wait for the engine's
lease, state reports; idle, nothing but heartbeats."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fdlimit import FDS_PER_MACHINE, raise_fd_limit
from corral.client import Client, EtcdError
from corral.fleet.records import SCHEDULE, ScheduleRecord, StateRecord, decode, encode, state_key
from corral.testing import StoreServer, wait_until

ROOT = Path(__file__).resolve().parents[3]
MACHINES = 4
TTL = 3  # heartbeat and lease renewal every second
SCOPES = 6  # watched per machine: units, placements, its record, its drain; settings, requests


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreServer]:
    server = StoreServer(tmp_path / "store").start()
    try:
        yield server
    finally:
        server.stop()


def test_each_simulated_machine_holds_a_real_ones_watches_and_idles_on_heartbeats(
    store: StoreServer,
) -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "bench.phases.fleet_sim", store.url, "0", str(MACHINES), str(TTL)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert sim.stdin is not None and sim.stdout is not None
    try:
        assert sim.stdout.readline().strip() == "ready"
        client = Client(store.url, timeout=10)
        # a long-poll watch per scope and machine, and the lease's watch of every
        # machine but the one that won it (no engine runs here)
        watchers = (SCOPES + 1) * MACHINES - 1
        wait_until(lambda: client.stats("store")["watchers"] == watchers, 10, "watches")
        client.set(f"{SCHEDULE}/a.service", encode(ScheduleRecord("sim00002")))
        key = state_key("sim00002", "a.service")
        wait_until(lambda: _exists(client, key), 10, "the state report")
        assert decode(StateRecord, client.get(key).node.value).active == "active"
        time.sleep(3.0)
        sim.stdin.write("count\n")
        sim.stdin.flush()
        counts = json.loads(sim.stdout.readline())["counts"]
        client.set(f"{SCHEDULE}/a.service", encode(ScheduleRecord("sim00003")))
        wait_until(lambda: not _exists(client, key), 10, "the report of the old machine gone")
        wait_until(lambda: _exists(client, state_key("sim00003", "a.service")), 10, "moved")
    finally:
        out, _ = sim.communicate("", timeout=30)
    assert counts["tree_reads"] == SCOPES * MACHINES  # each scope read once
    assert counts["register"] == 2 * MACHINES  # GET, then PUT with the TTL
    # every machine saw the one placement, and nothing else woke a watch: not the
    # others' heartbeats, state reports or the lease's renewals
    assert counts["watch_events"] == MACHINES
    assert counts["heartbeats"] >= MACHINES
    # one create each, a GET of the lease by the losers, the winner's renewals
    assert 2 * MACHINES - 1 <= counts["campaigns"] <= 2 * MACHINES + 10
    assert counts.get("errors", 0) == 0
    last = json.loads(out.strip().splitlines()[-1])
    assert last["counts"]["state_writes"] == 3
    assert last["slowest_watch_index"] > 0  # every watch followed the store


def _exists(client: Client, key: str) -> bool:
    try:
        client.get(key)
        return True
    except EtcdError:
        return False


def test_the_descriptor_limit_is_raised_for_every_machines_connections() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        raise_fd_limit(500)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 500 * FDS_PER_MACHINE
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
