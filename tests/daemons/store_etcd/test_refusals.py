"""The etcd backend's refusals with error 300, as the README states them:

- "With no member answering within --etcd-request-timeout (8 s), the client gets
  error 300 (`Raft Internal Error`, etcd's message as the cause), never a traceback":
  every member SIGSTOPped, so each holds its connections open and answers nothing
  (the worst case: a killed member refuses at once). The gateway runs with a short
  timeout so the test does not wait out the default, which test_cli checks.
- "Beyond [etcd's --max-txn-ops / --max-request-bytes] the write is refused with
  300": a member with etcd's default limits (128 operations, 1.5 MiB) refuses a write
  as deep as v2 allows (200 levels) and a value of 1.7 MiB, at once and with etcd's
  message; the same writes pass with the limits the etcd role sets (ETCD_OPTIONS), so
  the refusal is the limit's. A value past gRPC's own message limit (2 MiB at etcd's
  defaults), which etcd's JSON gateway answers with HTTP 429 "received message larger
  than max", is refused the same way: at once, never sent again, never applied.
- A gateway told etcd's limit (--etcd-max-request-bytes) refuses a value past it
  without sending it: over a member that would take the value, so the refusal is
  the gateway's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.client import Client, EtcdError
from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import EtcdServer, StoreServer

from .conftest import Site

pytestmark = pytest.mark.etcd

RAFT_INTERNAL = 300
DEEP = 200  # levels, as v2 allows: past etcd's default --max-txn-ops of 128
BIG = 1_700_000  # bytes: past etcd's default --max-request-bytes (1.5 MiB), not gRPC's 2 MiB
HUGE = 5 << 19  # bytes: past gRPC's message limit at etcd's defaults (2 MiB)
ETCD_DEFAULT = 3 << 19  # etcd's default --max-request-bytes (1.5 MiB)
SLACK = 4.0  # seconds past the deadline a refusal may take on a loaded machine
TIMEOUT = 1.5  # --etcd-request-timeout for the outage: seconds, a fraction of the default


def _deep_key() -> str:
    return "/" + "/".join(f"d{i}" for i in range(DEEP))


@pytest.fixture
def lone_member(tmp_path: Path) -> Iterator[tuple[EtcdServer, StoreServer]]:
    """One etcd member with etcd's default limits, and a gateway over it."""
    member = EtcdServer(tmp_path / "etcd").start()
    store = gateway(tmp_path / "gateway", [member])
    try:
        store.start()
        yield member, store
    finally:
        store.stop()
        member.stop()


def test_a_write_past_max_txn_ops_is_refused_with_300(
    lone_member: tuple[EtcdServer, StoreServer],
) -> None:
    _, store = lone_member
    client = Client(store.url, timeout=30)
    with pytest.raises(EtcdError) as refused:
        client.set(_deep_key(), "v")
    assert refused.value.code == RAFT_INTERNAL
    assert "too many operations in txn request" in str(refused.value)
    assert client.set("/shallow", "v").node.value == "v"  # the gateway goes on


def test_a_value_past_max_request_bytes_is_refused_with_300(
    lone_member: tuple[EtcdServer, StoreServer],
) -> None:
    _, store = lone_member
    client = Client(store.url, timeout=30)
    with pytest.raises(EtcdError) as refused:
        client.set("/big", "x" * BIG)
    assert refused.value.code == RAFT_INTERNAL
    assert "request is too large" in str(refused.value)
    assert client.set("/small", "v").node.value == "v"


def test_a_value_past_grpcs_message_limit_is_refused_with_300_at_once(
    lone_member: tuple[EtcdServer, StoreServer],
) -> None:
    _, store = lone_member
    client = Client(store.url, timeout=30)
    started = time.monotonic()
    with pytest.raises(EtcdError) as refused:
        client.set("/huge", "x" * HUGE)
    took = time.monotonic() - started
    assert refused.value.code == RAFT_INTERNAL
    assert "larger than max" in str(refused.value)
    assert "--max-request-bytes" in str(refused.value)  # the limit, named
    assert took < SLACK, f"refused after {took:.1f} s"  # not sent again and again
    with pytest.raises(EtcdError) as missing:
        client.get("/huge", quorum=True)
    assert missing.value.code == 100  # never applied
    assert client.set("/small", "v").node.value == "v"


def test_a_value_past_the_limit_the_gateway_is_told_is_refused_before_sending(
    tmp_path: Path,
) -> None:
    member = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    store = gateway(
        tmp_path / "gateway", [member], extra_args=("--etcd-max-request-bytes", str(ETCD_DEFAULT))
    )
    try:
        client = Client(store.start().url, timeout=30)
        with pytest.raises(EtcdError) as refused:
            client.set("/big", "x" * BIG)  # this member would take it
        assert refused.value.code == RAFT_INTERNAL
        assert "request is too large" in str(refused.value)
        assert f"--max-request-bytes of {ETCD_DEFAULT}" in str(refused.value)
        with pytest.raises(EtcdError) as missing:
            client.get("/big", quorum=True)
        assert missing.value.code == 100
        fits = ETCD_DEFAULT - 1000  # keys and values under the limit: sent
        assert len(client.set("/fits", "x" * fits).node.value or "") == fits
    finally:
        store.stop()
        member.stop()


def test_the_same_writes_pass_with_the_limits_the_etcd_role_sets(tmp_path: Path) -> None:
    member = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    store = gateway(tmp_path / "gateway", [member])
    try:
        client = Client(store.start().url, timeout=30)
        assert client.set(_deep_key(), "v").node.key == _deep_key()
        assert len(client.set("/big", "x" * BIG).node.value or "") == BIG
    finally:
        store.stop()
        member.stop()


def test_no_member_answering_gives_300_after_the_deadline_then_writes_resume(
    site: Site, tmp_path: Path
) -> None:
    quick = gateway(
        tmp_path / "gw-quick", site.members, extra_args=("--etcd-request-timeout", str(TIMEOUT))
    )
    site.gateways.append(quick.start())
    client = Client(quick.url, timeout=30)
    assert client.set("/outage/before", "1").node.value == "1"
    for m in site.members:
        os.kill(m.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(EtcdError) as refused:
            client.set("/outage/during", "2")
        took = time.monotonic() - started
    finally:
        for m in site.members:
            os.kill(m.pid, signal.SIGCONT)
    assert refused.value.code == RAFT_INTERNAL
    assert refused.value.message == "Raft Internal Error"
    # the write's send times out, then the read back of its outcome: two calls
    assert TIMEOUT <= took <= 2 * TIMEOUT + SLACK, f"refused after {took:.1f} s"
    # the members are back: the same gateway writes again, and the refused write
    # either never applied or applied once (its outcome was unknown to the gateway)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert client.set("/outage/after", "3").node.value == "3"
            break
        except EtcdError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    listed = client.get("/outage", quorum=True).node.nodes or []
    assert {n.key for n in listed} <= {"/outage/before", "/outage/during", "/outage/after"}
