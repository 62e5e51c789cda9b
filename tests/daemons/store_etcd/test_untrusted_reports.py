"""Bad records from etcd are reported in one log line per kind and per REPORT_EVERY
seconds, with the count held back: a flood of them cannot flood the log."""

from __future__ import annotations

import logging

import pytest

from corral.store.etcdv3.layout import b64, decode_kv, decode_op, encode_op, v3_key
from corral.store.etcdv3.untrusted import REPORT_EVERY, Malformed, Reports


def test_one_line_per_kind_and_period_with_the_count_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    reports = Reports(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "corral.store.etcdv3.untrusted"):
        for n in range(50):
            reports.skipped("op record", f"bad {n}")
        reports.skipped("key", "bad key")
        now[0] += REPORT_EVERY
        reports.skipped("op record", "bad again")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "untrusted data in etcd: op record: bad 0",
        "untrusted data in etcd: key: bad key",
        "untrusted data in etcd: op record: bad again (49 more op record problems since the"
        " last report)",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b'{"a": "set"}',
        b'{"a": "set", "n": {"key": "/k", "nodes": []}, "p": null, "c": 0, "r": false, "w": "x"}',
        b'{"a": "set", "n": {"key": "k"}, "p": null, "c": 0, "r": false, "w": "x"}',
        b'{"a": "set", "n": {"key": "/k"}, "p": 5, "c": 0, "r": false, "w": "x"}',
        b'{"a": "set", "n": {"key": "/k"}, "p": null, "c": -1, "r": false, "w": "x"}',
        b'{"a": "set", "n": {"key": "/k"}, "p": null, "c": 0, "r": 1, "w": "x"}',
    ],
)
def test_an_op_record_of_another_shape_is_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        decode_op(raw)


def test_a_gateways_op_record_reads_back() -> None:
    raw = encode_op("delete", {"key": "/d", "dir": True}, {"key": "/d"}, 3, False, "w1")
    op = decode_op(raw)
    assert (op.action, op.node, op.prev, op.created, op.write_id) == (
        "delete", {"key": "/d", "dir": True}, {"key": "/d"}, 3, "w1",
    )  # fmt: skip


@pytest.mark.parametrize("key", [b"/corral/keys/", b"/corral/keys/a/", b"/corral/keys/\xff"])
def test_a_key_naming_no_v2_node_is_malformed(key: bytes) -> None:
    with pytest.raises(Malformed):
        decode_kv({"key": b64(key), "value": b64(b"v")})


@pytest.mark.parametrize(
    ("value", "lease"),
    [
        (b"f\xd9\xa3\nw\n \nv", "7"),
        (b"f1\nw\n\xd9\xa3 0\nv", "7"),
        (b"f1\nw\n 12x\nv", "7"),
        (b"f1" + b"9" * 30 + b"\nw\n \nv", "7"),  # past what `expiration` can show
        (b"f5\nw\n \nan expiry and no lease", "0"),
    ],
)
def test_a_value_no_gateway_writes_is_a_plain_file(value: bytes, lease: str) -> None:
    kv = decode_kv(
        {"key": b64(v3_key("/k")), "value": b64(value), "mod_revision": "4", "lease": lease}
    )
    assert (kv.is_dir, kv.expire_ns, kv.value) == (False, 0, value.decode("utf-8", "replace"))
