"""etcd's size limits on a request, as the gateway meets them.

etcd refuses an oversize request in three places, each before the request is
proposed to raft, so a refused write never applied and is never sent again:
- gRPC's receive limit (`--max-request-bytes` + 512 KiB): grpc-go checks a message's
  length before decoding it or calling etcd's handler; the JSON gateway answers
  HTTP 429, code 8 (ResourceExhausted), "grpc: received message larger than max".
- `--max-request-bytes` itself: etcdserver (processInternalRaftRequestOnce) measures
  the marshalled request before `Propose`: code 3, "etcdserver: request is too large".
- `--max-txn-ops`: the KV server (checkTxnRequest) counts a transaction's operations
  before anything else: code 3, "etcdserver: too many operations in txn request".
Code 8 is also "too many requests" (a backlog, worth retrying), so a size refusal is
recognised by etcd's message, not its code.
"""

from __future__ import annotations

from typing import Any

# etcd's own default --max-request-bytes is 1.5 MiB; the etcd role sets 8 MiB so v2
# values of several MiB fit. The gateway assumes the role's: it then never refuses a
# write such an etcd would take, and over an etcd at its defaults etcd refuses the rest.
MAX_REQUEST_BYTES = 8 << 20
# etcd's gRPC receive limit is --max-request-bytes + 512 KiB, an int32 in grpc-go.
MAX_REQUEST_BYTES_CEILING = (1 << 31) - 1 - (512 << 10)

# Writes in one batch (one etcd transaction, one operation each): at most etcd's
# --max-txn-ops (128 by default); 64 keeps a call's cost, and the wait it makes the
# writes queued behind it, moderate.
MAX_BATCH = 64
MAX_BATCH_CEILING = 1 << 16  # past this a batch only grows one call's delay

_LIMITS = (
    ("larger than max", "etcd's gRPC message limit, its --max-request-bytes + 512 KiB"),
    ("request is too large", "etcd's --max-request-bytes"),
    ("too many operations in txn request", "etcd's --max-txn-ops"),
)


def size_refusal(message: str) -> str | None:
    """The cause to give for etcd's answer `message` if it refuses a request for its
    size (the limit named), else None."""
    for words, limit in _LIMITS:
        if words in message:
            return f"{message} (past {limit})"
    return None


def _decoded_len(text: str) -> int:
    """The length of the bytes base64 `text` encodes."""
    return len(text) // 4 * 3 - text[-2:].count("=")


def put_bytes(txn: dict[str, Any]) -> int:
    """The bytes of the keys and values a transaction puts: a floor under the size
    etcd measures against --max-request-bytes (its marshalled request holds them all),
    nested transactions (a batch's writes) included."""
    total = 0
    for branch in ("success", "failure"):
        for op in txn.get(branch) or ():
            put = op.get("request_put")
            if put is not None:
                total += _decoded_len(put.get("key", "")) + _decoded_len(put.get("value", ""))
            nested = op.get("request_txn")
            if nested is not None:
                total += put_bytes(nested)
    return total


def too_large(txn: dict[str, Any], limit: int) -> str | None:
    """The refusal etcd would give `txn` over a --max-request-bytes of `limit`, if it
    surely would (put_bytes alone is past it), else None."""
    size = put_bytes(txn)
    if size <= limit:
        return None
    return (
        f"etcdserver: request is too large ({size} bytes of keys and values, past"
        f" etcd's --max-request-bytes of {limit}, as --etcd-max-request-bytes says)"
    )
