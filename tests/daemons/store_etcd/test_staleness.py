"""A gateway cut off from etcd serves what it has for at most --etcd-max-staleness
seconds: then plain GETs and new watches answer error 300 (and the permissions it
holds decide nothing), until it hears from etcd again. The staleness and the refused
reads are metrics (corral.store.metrics)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from corral.client import Client
from corral.etcd_errors import RAFT_INTERNAL, EtcdError
from corral.store.etcdv3.backend import EtcdBackend
from corral.store.etcdv3.testing import gateway
from corral.store.keys_request import KeysRequest
from corral.store.metrics import REGISTRY
from corral.testing import EtcdServer, StoreServer, wait_until

from .auth_calls import call, enable_auth
from .relay import Relay

pytestmark = pytest.mark.etcd

LIMIT = 1.5  # seconds: short, so the test is


def _staleness() -> float:
    value = REGISTRY.get_sample_value("corral_store_etcd_replica_staleness_seconds")
    assert value is not None
    return value


def _refused() -> float:
    return REGISTRY.get_sample_value("corral_store_etcd_stale_reads_refused_total") or 0.0


async def _until(check: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)


def _read(backend: EtcdBackend) -> str | int:
    """The value of /k, or the error code refusing it."""
    try:
        e = backend.read_now(KeysRequest("GET", "/k"))
    except EtcdError as err:
        return err.code
    assert e is not None
    return str(e.node["value"])


async def _cut_and_back(member: EtcdServer) -> None:
    backend = EtcdBackend([member.url], max_staleness=LIMIT)
    await backend.start()
    try:
        await backend.write(KeysRequest("PUT", "/k", value="v"))
        await asyncio.sleep(LIMIT + 0.5)  # heartbeats keep a gateway in touch fresh
        assert _read(backend) == "v" and _staleness() < LIMIT
        refused = _refused()

        os.kill(member.pid, signal.SIGSTOP)  # etcd hangs: no answer, no error
        try:
            await asyncio.sleep(0.5)
            assert _read(backend) == "v"  # within the bound: served
            await _until(lambda: _read(backend) == RAFT_INTERNAL, LIMIT + 1.5)
            with pytest.raises(EtcdError) as watch_refused:
                await backend.watch(KeysRequest("GET", "/k", wait=True))
            assert watch_refused.value.code == RAFT_INTERNAL
            assert "cut off from etcd" in watch_refused.value.cause
            assert _staleness() > LIMIT
            assert _refused() >= refused + 2
        finally:
            os.kill(member.pid, signal.SIGCONT)
        await _until(lambda: _read(backend) == "v", 10)
        assert _staleness() < LIMIT
    finally:
        await backend.stop()


def test_reads_are_refused_past_the_bound_and_served_again_after(member: EtcdServer) -> None:
    asyncio.run(_cut_and_back(member))


@contextmanager
def _near_and_far(
    member: EtcdServer, tmp_path: Path, max_staleness: int
) -> Iterator[tuple[StoreServer, StoreServer, Relay]]:
    """Two started gateways: one straight to `member`, one through a relay the test
    can cut or freeze, serving for at most `max_staleness` seconds when cut off."""
    relay = Relay(member.client_port)
    near = gateway(tmp_path / "gw-near", [member])
    far = StoreServer(
        tmp_path / "gw-far",
        ["--backend", "etcd", "--etcd-endpoints", relay.url,
         "--etcd-max-staleness", f"{max_staleness * 1000:g}ms"],  # the duration grammar
    )  # fmt: skip
    try:
        near.start()
        far.start()
        yield near, far, relay
    finally:
        far.stop()
        near.stop()
        relay.close()


def test_a_deleted_user_stops_reading_through_a_gateway_cut_off_from_etcd(
    member: EtcdServer, tmp_path: Path
) -> None:
    with _near_and_far(member, tmp_path, 2) as (near, far, relay):
        a, b = near.url, far.url
        enable_auth(a)
        reader = {"role": "reader", "permissions": {"kv": {"read": ["/*"], "write": []}}}
        assert call(a, "PUT", "/v2/auth/roles/reader", reader, root=True)[0] == 201
        alice = {"user": "alice", "password": "alice-pw", "roles": ["reader"]}
        assert call(a, "PUT", "/v2/auth/users/alice", alice, root=True)[0] in (200, 201)
        assert call(a, "PUT", "/v2/keys/k", root=True, form="value=secret")[0] == 201

        def alice_reads() -> int:
            return call(b, "GET", "/v2/keys/k", user=("alice", "alice-pw"))[0]

        wait_until(lambda: alice_reads() == 200, 10, "alice reads through the far gateway")
        relay.cut()
        cut_at = time.monotonic()
        assert call(a, "DELETE", "/v2/auth/users/alice", root=True)[0] == 200
        wait_until(lambda: alice_reads() == 500, 6, "the far gateway refuses")
        assert time.monotonic() - cut_at < 2 + 2  # the bound, and a heartbeat
        body = call(b, "GET", "/v2/keys/k", user=("alice", "alice-pw"))[1]
        assert body["errorCode"] == RAFT_INTERNAL and "cut off from etcd" in body["cause"]
        assert call(b, "GET", "/v2/keys/k", root=True)[0] == 500  # every read
        relay.restore()
        wait_until(lambda: call(b, "GET", "/v2/keys/k", root=True)[0] == 200, 15, "served")
        assert alice_reads() == 401  # the deletion reached it before any read
        log = far.log_text()
        assert log.count("refusing reads until it answers") == 1, log
        # the outage's lost watch streams: its first, not one per reopening attempt
        assert log.count("watch stream lost") == 1, log
        assert "Traceback" not in log


def test_a_watch_gone_silent_is_reopened_and_the_gateway_catches_up(
    member: EtcdServer, tmp_path: Path
) -> None:
    with _near_and_far(member, tmp_path, 3) as (near, far, relay):
        a, b = Client(near.url), Client(far.url)
        a.set("/k", "v1")
        wait_until(lambda: _value(b) == "v1", 10, "v1 through the far gateway")
        relay.freeze()  # its watch stream goes silent, with no error; new connections work
        a.set("/k", "v2")
        wait_until(lambda: _value(b) == "v2", 15, "the far gateway's watch reopened")
        started = time.monotonic()
        assert _value(b) == "v2"
        # from its replica again: not 2 s waiting for a dead stream, then etcd itself
        assert time.monotonic() - started < 0.5
        log = far.log_text()
        assert "watch feed stuck before revision" in log, log
        assert "Traceback" not in log, log


def _value(client: Client) -> str | int | None:
    """The value of /k, or the error code refusing it."""
    try:
        return client.get("/k").node.value
    except EtcdError as exc:
        return exc.code
