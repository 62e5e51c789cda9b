"""The gateway's transactions over etcd's gRPC API instead of its JSON gateway: a
what-if for `python -m bench.phases.gateway --ceiling --grpc`.

Corral does not depend on grpcio or protobuf; this what-if needs only grpcio
(`pip install grpcio`, the bench's optional `grpc-whatif` extra). The few messages it
sends are encoded here by hand from the JSON the gateway sends (etcd's rpc.proto field
numbers), and grpcio carries the bytes: no generated stubs, no protobuf package.

    TxnRequest  {1 compare: Compare*, 2 success: RequestOp*, 3 failure: RequestOp*}
    Compare     {1 result, 2 target, 3 key, 4 version, 5 create_revision,
                 6 mod_revision, 7 value, 8 lease, 64 range_end}
    RequestOp   {1 request_range, 2 request_put, 3 request_delete_range}
    PutRequest  {1 key, 2 value, 3 lease}
    RangeRequest / DeleteRangeRequest {1 key, 2 range_end}
    TxnResponse {1 header, 2 succeeded, 3 responses}
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

RESULTS = {"EQUAL": 0, "GREATER": 1, "LESS": 2, "NOT_EQUAL": 3}
TARGETS = {"VERSION": 0, "CREATE": 1, "MOD": 2, "VALUE": 3, "LEASE": 4}
COMPARE_NUMBERS = {"version": 4, "create_revision": 5, "mod_revision": 6, "lease": 8}
OPS = {"request_range": 1, "request_put": 2, "request_delete_range": 3}
TXN_METHOD = "/etcdserverpb.KV/Txn"


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64s as protobuf sends them
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _bytes_field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def _compare(c: dict[str, Any]) -> bytes:
    out = _int_field(1, RESULTS[c.get("result", "EQUAL")])
    out += _int_field(2, TARGETS[c.get("target", "VERSION")])
    out += _bytes_field(3, _b64(c["key"]))
    for name, number in COMPARE_NUMBERS.items():
        if name in c:
            out += _varint(number << 3) + _varint(int(c[name]))  # set even when 0
    if "value" in c:
        out += _bytes_field(7, _b64(c["value"]))
    if "range_end" in c:
        out += _bytes_field(64, _b64(c["range_end"]))
    return out


def _request(body: dict[str, Any]) -> bytes:
    out = _bytes_field(1, _b64(body.get("key")))
    if body.get("range_end"):
        out += _bytes_field(2, _b64(body["range_end"]))
    return out


def _op(op: dict[str, Any]) -> bytes:
    ((kind, body),) = op.items()
    if kind == "request_put":
        inner = _bytes_field(1, _b64(body.get("key"))) + _bytes_field(2, _b64(body.get("value")))
        inner += _int_field(3, int(body.get("lease", 0)))
    elif kind in OPS:
        inner = _request(body)
    else:
        raise ValueError(f"operation {kind} is not part of this what-if")
    return _bytes_field(OPS[kind], inner)


def encode_txn(txn: dict[str, Any]) -> bytes:
    """A TxnRequest from the JSON body etcd's JSON gateway takes for /v3/kv/txn."""
    out = b"".join(_bytes_field(1, _compare(c)) for c in txn.get("compare", []))
    out += b"".join(_bytes_field(2, _op(o)) for o in txn.get("success", []))
    out += b"".join(_bytes_field(3, _op(o)) for o in txn.get("failure", []))
    return out


def succeeded(response: bytes) -> bool:
    """TxnResponse.succeeded (field 2), scanning the top-level fields."""
    i = 0
    while i < len(response):
        key, i = _read_varint(response, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(response, i)
            if number == 2:
                return bool(value)
        elif wire == 2:
            length, i = _read_varint(response, i)
            i += length
        else:
            raise ValueError(f"unexpected wire type {wire} in a TxnResponse")
    return False


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


async def rate(
    targets: list[str], request: Callable[[int], bytes], seconds: float, concurrency: int
) -> float:
    """Transactions whose compares held, per second, over `concurrency` calls in flight
    spread over the members at `targets` (host:port)."""
    import grpc  # the what-if's only dependency, imported only when asked for

    channels = [grpc.aio.insecure_channel(t) for t in targets]
    calls = [ch.unary_unary(TXN_METHOD) for ch in channels]  # bytes in, bytes out
    done = [0]
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        call = calls[w % len(calls)]
        while time.perf_counter() < stop:
            answer = await call(request(i), timeout=10)
            if not succeeded(answer):
                raise RuntimeError("a transaction's compares failed: it wrote nothing")
            done[0] += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    for ch in channels:
        await ch.close()
    return done[0] / elapsed
