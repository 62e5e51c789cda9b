"""The floor the gateway puts under etcd's request size never exceeds what etcd
measures (so the gateway never refuses a write etcd would take), and etcd's size
refusals are told apart from its other code-8 answers."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from corral.store.etcdv3.sizes import put_bytes, size_refusal, too_large


def _put(key: bytes, value: bytes) -> dict[str, dict[str, str]]:
    b64 = base64.b64encode
    return {"request_put": {"key": b64(key).decode(), "value": b64(value).decode()}}


@given(st.lists(st.tuples(st.binary(max_size=64), st.binary(max_size=300)), max_size=5))
def test_put_bytes_counts_exactly_the_keys_and_values_put(puts: list[tuple[bytes, bytes]]) -> None:
    txn = {"compare": [], "success": [_put(k, v) for k, v in puts]}
    txn["success"].append({"request_delete_range": {"key": "AA=="}})
    assert put_bytes(txn) == sum(len(k) + len(v) for k, v in puts)


def test_too_large_only_past_the_limit() -> None:
    txn = {"success": [_put(b"/k", b"x" * 98)]}
    assert too_large(txn, 100) is None
    refusal = too_large(txn, 99)
    assert refusal is not None and "request is too large" in refusal


def test_size_refusals_name_their_limit_and_other_answers_are_not_size_refusals() -> None:
    grpc = size_refusal("grpc: received message larger than max (2700019 vs. 2097152)")
    assert grpc is not None and "--max-request-bytes + 512 KiB" in grpc
    assert "--max-txn-ops" in (size_refusal("etcdserver: too many operations in txn request") or "")
    assert size_refusal("etcdserver: too many requests") is None  # code 8 too: a backlog
    assert size_refusal("etcdserver: mvcc: database space exceeded") is None
