"""The gRPC what-if's hand-made protobuf: the bytes etcd's rpc.proto defines."""

from __future__ import annotations

import base64

from bench.phases.grpc_txn import encode_txn, succeeded


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_set_transaction_encodes_as_rpc_proto_defines_it() -> None:
    txn = {
        "compare": [{"key": b64("a"), "target": "MOD", "result": "GREATER", "mod_revision": "0"}],
        "success": [{"request_put": {"key": b64("a"), "value": b64("v")}}],
    }
    compare = bytes([0x08, 1, 0x10, 2, 0x1A, 1, ord("a"), 0x30, 0])  # result, target, key, rev
    put = bytes([0x0A, 1, ord("a"), 0x12, 1, ord("v")])  # key, value
    op = bytes([0x12, len(put)]) + put  # RequestOp.request_put
    assert encode_txn(txn) == bytes([0x0A, len(compare)]) + compare + bytes([0x12, len(op)]) + op


def test_a_lease_and_a_delete_range_are_encoded_too() -> None:
    put = {"request_put": {"key": b64("k"), "value": "", "lease": "300"}}
    delete = {"request_delete_range": {"key": b64("d/"), "range_end": b64("d0")}}
    txn = {"success": [put, delete]}
    encoded = encode_txn(txn)
    assert bytes([0x18, 0xAC, 0x02]) in encoded  # lease 300 as a varint
    assert bytes([0x1A, 8, 0x0A, 2]) + b"d/" + bytes([0x12, 2]) + b"d0" in encoded


def test_succeeded_is_read_past_the_header() -> None:
    header = bytes([0x0A, 4, 0x08, 1, 0x10, 7])  # a ResponseHeader with cluster_id, member_id
    assert succeeded(header + bytes([0x10, 1])) is True
    assert succeeded(header + bytes([0x10, 0])) is False
    assert succeeded(header) is False
