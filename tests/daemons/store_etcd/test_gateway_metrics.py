"""What a gateway reports of its work with etcd (corral.store.metrics): round trips by
kind, failovers past a dead member, transactions retried after a conflict, and how far
its replica is behind the newest write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.store.etcdv3.backend import EtcdBackend
from corral.store.etcdv3.testing import ETCD_OPTIONS
from corral.store.keys_request import KeysRequest
from corral.store.metrics import REGISTRY
from corral.testing import EtcdServer, free_port

pytestmark = pytest.mark.etcd


@pytest.fixture
def member(tmp_path: Path) -> Iterator[EtcdServer]:
    m = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    try:
        yield m
    finally:
        m.stop()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _round_trips(kind: str) -> float:
    return _value("corral_store_etcd_round_trips_total", kind=kind)


async def _conflict_and_failover(member: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # a member that is down
    ahead = EtcdBackend([member.url])
    await ahead.start()
    failovers, txns = _value("corral_store_etcd_failovers_total"), _round_trips("txn")
    watches = _round_trips("watch")
    retries = _value("corral_store_etcd_txn_retries_total")
    behind = EtcdBackend([dead, member.url])  # started last: the lag gauge is its own
    await behind.start()
    try:
        # its first call went to the dead member, then to the live one
        assert _value("corral_store_etcd_failovers_total") >= failovers + 1
        assert _round_trips("txn") >= txns + 1  # its snapshot
        assert _round_trips("watch") >= watches + 1  # its feed
        first = await behind.write(KeysRequest("PUT", "/k", value="1"))
        assert behind.feed is not None and await behind.feed.wait_for(first.index, 5)
        assert _value("corral_store_etcd_replica_lag_revisions") == 0
        await behind.feed.stop()  # its replica stays as it is now
        await ahead.write(KeysRequest("PUT", "/k", value="2"))
        assert _value("corral_store_etcd_txn_retries_total") == retries
        # planned on its stale replica, the write fails its compares and is planned again
        e = await behind.write(KeysRequest("PUT", "/k", value="3"))
        assert e.prev_node is not None and e.prev_node["value"] == "2"
        assert _value("corral_store_etcd_txn_retries_total") == retries + 1
        # the replica is behind the write it answered by the two since its last (one
        # revision each)
        assert _value("corral_store_etcd_replica_lag_revisions") == 2
    finally:
        await behind.stop()
        await ahead.stop()


def test_round_trips_failovers_retries_and_lag_are_reported(member: EtcdServer) -> None:
    asyncio.run(_conflict_and_failover(member))
