"""Writing straight into etcd with its own v3 JSON API, as something other than a
Corral gateway would: the data a gateway must treat as untrusted input."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from corral.testing import EtcdServer


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def call(member: EtcdServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(member.url + path, data=json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer: dict[str, Any] = json.load(resp)
    return answer


def put(member: EtcdServer, key: bytes | str, value: bytes | str, lease: int = 0) -> int:
    """The revision of the put."""
    body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        body["lease"] = str(lease)
    return int(call(member, "/v3/kv/put", body)["header"]["revision"])


def get(member: EtcdServer, key: bytes | str) -> bytes | None:
    kvs = call(member, "/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
    return base64.b64decode(kvs[0].get("value", "")) if kvs else None


def grant(member: EtcdServer, ttl: int) -> int:
    return int(call(member, "/v3/lease/grant", {"TTL": str(ttl)})["ID"])
