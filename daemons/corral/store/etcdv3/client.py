"""etcd's v3 JSON gateway, with endpoint failover: unary calls over our own
keep-alive connections (`wire`), watch streams over aiohttp.

Requests take the members in turn (each with its pooled connections): etcd's JSON
gateway is the bottleneck of a write, and three members' gateways carried 15-50% more
transactions than one here (`python -m bench.phases.gateway --ceiling`). A member
that fails is left out for `REST` seconds (all of them out: each is tried anyway).
Idempotent requests (reads, lease grants and revokes) are retried on the other
members until `deadline` passes. A transaction that may have reached etcd (sent,
then no clear answer) is never re-sent: the caller gets `Ambiguous` and resolves it
by reading back; only a connection that was never made is retried.
`EtcdUnavailable` means no member answered within `deadline` (one call's whole
time over every member). A request etcd refuses for its size (`sizes`) never
reached raft: it is refused at once, never retried; a transaction surely past
etcd's --max-request-bytes (`max_request_bytes`) is refused without sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from corral.store.etcdv3.deadline import DEADLINE
from corral.store.etcdv3.sizes import MAX_REQUEST_BYTES, size_refusal, too_large
from corral.store.etcdv3.wire import Member, NeverSent
from corral.store.metrics import ETCD_FAILOVERS, ETCD_ROUND_TRIPS

log = logging.getLogger(__name__)

# One attempt on one member. etcd 3.4 holds a request it got while it had no leader
# until its own request timeout (~7 s): give up on the attempt much sooner and ask
# again (a read) or read back (a write), so service resumes soon after an election
# (1-2 s here). A write gets longer: giving up on it costs a read-back.
READ_TIMEOUT = 1.0
WRITE_TIMEOUT = 2.0
RETRY_PAUSE = 0.05
REST = 5.0  # seconds a member that failed is left out of the rotation


class EtcdUnavailable(Exception):
    """No etcd member gave an answer before the deadline."""


class Ambiguous(Exception):
    """A write was sent but its outcome is unknown (the member died or timed out)."""


class EtcdRefused(Exception):
    """etcd answered with an error that retrying will not fix (e.g. compacted)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# The kind of each etcd call, as corral_store_etcd_round_trips labels it
_KINDS = {
    "/v3/kv/range": "range", "/v3/kv/txn": "txn", "/v3/lease/grant": "lease_grant",
    "/v3/lease/revoke": "lease_revoke", "/v3/watch": "watch",
}  # fmt: skip
_ROUND_TRIPS = {path: ETCD_ROUND_TRIPS.labels(kind) for path, kind in _KINDS.items()}

# gRPC codes for which another member, or a moment later, may do better (8 is also
# gRPC's size refusal, which `size_refusal` singles out first)
_RETRYABLE_CODES = frozenset({1, 4, 8, 10, 13, 14})


class Gateway:
    """etcd members' v3 JSON gateways, taken in turn, with failover and retries."""

    def __init__(
        self, endpoints: list[str], deadline: float = DEADLINE,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:  # fmt: skip
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.deadline = deadline
        self.max_request_bytes = max_request_bytes  # etcd's, as the operator tells us
        self._next = 0  # the member the next request goes to, if it is not resting
        self._resting_until = [0.0] * len(self.endpoints)
        self._session: aiohttp.ClientSession | None = None
        self._members: list[Member] = []
        # TLS towards https:// members (CA, our client certificate); set before start()
        self.ssl: ssl.SSLContext | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            ttl_dns_cache=None,
            enable_cleanup_closed=True,
            ssl=self.ssl if self.ssl is not None else True,
        )
        self._session = aiohttp.ClientSession(connector=connector)
        tls = self.ssl
        if tls is None and any(e.startswith("https:") for e in self.endpoints):
            tls = ssl.create_default_context()
        self._members = [Member(e, tls) for e in self.endpoints]

    async def close(self) -> None:
        for m in self._members:
            m.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Gateway.start() was not awaited"
        return self._session

    def _pick(self) -> int:
        """The next member in turn that is not resting (if all are: the next one)."""
        now = time.monotonic()
        n = len(self.endpoints)
        index = self._next
        for step in range(n):
            if self._resting_until[(self._next + step) % n] <= now:
                index = (self._next + step) % n
                break
        self._next = (index + 1) % n
        return index

    def _next_endpoint(self, failed: int) -> None:
        self._resting_until[failed] = time.monotonic() + REST
        ETCD_FAILOVERS.inc()

    async def call(
        self, path: str, body: dict[str, Any], idempotent: bool = True
    ) -> dict[str, Any]:
        """POST `body` to `path` on a live member; the decoded answer."""
        assert self._members, "Gateway.start() was not awaited"
        end = time.monotonic() + self.deadline
        last = "no attempt"
        tried = 0
        payload = json.dumps(body, separators=(",", ":")).encode()
        attempt = READ_TIMEOUT if idempotent else WRITE_TIMEOUT
        round_trips = _ROUND_TRIPS[path]
        while True:
            index = self._pick()
            url = self.endpoints[index] + path
            tried += 1
            left = max(end - time.monotonic(), 0.0)  # no attempt outlasts the deadline
            timeout, connect = min(attempt, left), min(READ_TIMEOUT, left)
            round_trips.inc()
            try:
                status, data = await self._members[index].post(path, payload, timeout, connect)
            except NeverSent as exc:  # never reached etcd: safe to retry
                last = f"{url}: {exc}"
                self._next_endpoint(index)
            except (TimeoutError, OSError) as exc:
                last = f"{url}: {exc!r}"
                self._next_endpoint(index)
                if not idempotent:
                    raise Ambiguous(last) from None
            else:
                answer = _decode(data)
                if status == 200 and "error" not in answer:
                    return answer
                code = int(answer.get("code", 0) or 0)
                message = str(answer.get("message") or answer.get("error") or data[:200])
                last = f"{url}: {status} {message}"
                refusal = size_refusal(message)
                if refusal is not None:  # refused before raft: not applied
                    raise EtcdRefused(refusal, code)
                if code not in _RETRYABLE_CODES and status < 500:
                    raise EtcdRefused(message, code)
                self._next_endpoint(index)
                if not idempotent:
                    raise Ambiguous(last)
            if time.monotonic() >= end:
                raise EtcdUnavailable(f"etcd cluster unavailable ({tried} attempts): {last}")
            if tried % len(self.endpoints) == 0:  # every member failed once: pause
                await asyncio.sleep(min(RETRY_PAUSE, max(end - time.monotonic(), 0.0)))

    async def range(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.call("/v3/kv/range", body)

    async def txn(self, body: dict[str, Any], idempotent: bool = False) -> dict[str, Any]:
        refusal = too_large(body, self.max_request_bytes)
        if refusal is not None:  # etcd would refuse it: spare sending MiBs to hear so
            raise EtcdRefused(refusal, 3)
        return await self.call("/v3/kv/txn", body, idempotent)

    async def grant(self, ttl: int) -> int:
        answer = await self.call("/v3/lease/grant", {"TTL": str(max(ttl, 1))})
        return int(answer["ID"])

    async def revoke(self, lease: int) -> None:
        with contextlib.suppress(EtcdRefused):  # already expired or revoked
            await self.call("/v3/lease/revoke", {"ID": str(lease)})

    async def watch(
        self, body: dict[str, Any], endpoint: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The results of one v3 watch stream on one member, until it breaks."""
        index = self._pick() if endpoint is None else endpoint
        url = self.endpoints[index] + "/v3/watch"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=READ_TIMEOUT)
        _ROUND_TRIPS["/v3/watch"].inc()
        try:
            async with self.session.post(url, json=body, timeout=timeout) as resp:
                if resp.status != 200:
                    raise EtcdUnavailable(f"{url}: {resp.status}")
                pending = b""  # one result per line, of any length (values can be MiBs)
                async for chunk in resp.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        answer = _decode(line)
                        if "error" in answer:
                            raise EtcdUnavailable(f"{url}: {answer.get('error')}")
                        yield answer.get("result", {})
        except (aiohttp.ClientError, OSError) as exc:
            self._next_endpoint(index)
            raise EtcdUnavailable(f"{url}: {exc!r}") from None
        self._next_endpoint(index)
        raise EtcdUnavailable(f"{url}: watch stream ended")


def check_endpoints(endpoints: list[str]) -> list[str]:
    """The endpoints if each is an http(s) URL with a host and port; else ValueError."""
    if not endpoints:
        raise ValueError("--backend etcd needs --etcd-endpoints http://HOST:PORT,...")
    for url in endpoints:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            raise ValueError(f"{url}: an etcd endpoint must look like http://HOST:PORT")
    return endpoints


def _decode(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        return {"error": data[:200].decode("utf-8", "replace")}
    return answer if isinstance(answer, dict) else {"error": repr(answer)[:200]}
