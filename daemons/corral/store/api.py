"""The v2 HTTP API over a keys backend, independent of any HTTP library.

`Api.dispatch` is every request's one way in: it takes a parsed `HttpRequest` and
returns either a complete `HttpResponse` (a plain read that needs no waiting, most
requests, answered synchronously) or a `Pending` answer: a plain write handed to the
backend, answered by the commit's completion once durable, or work the caller runs
in its task, whose answer may be a `WatchResponse` (headers now, events later) that the
HTTP adapter streams. Routes, methods, headers and bodies are etcd 3.4's; every failure
is an etcd error body, and an unexpected exception becomes error 300, logged here,
never a traceback on the wire.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

import prometheus_client

from corral import __version__
from corral.etcd_errors import EtcdError, InvalidField, RaftInternal, Unauthorized
from corral.store import metrics
from corral.store.auth_api import AUTH_PREFIX, Authorizer
from corral.store.backend import KeysBackend, Watch
from corral.store.event import COMPARE_AND_SWAP, CREATE, SET, UPDATE, Event
from corral.store.keys_request import KeysRequest
from corral.store.limits import DEFAULT, Limits
from corral.store.params import build_form, parse_keys_request, unescape
from corral.store.private import is_private
from corral.store.store import clean_path

log = logging.getLogger(__name__)

KEYS_PREFIX = "/v2/keys"
KEYS_METHODS = ("HEAD", "GET", "PUT", "POST", "DELETE")
_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})
SERVER_VERSION = "3.4.23"
CLUSTER_VERSION = "3.4.0"
RAFT_TERM = "2"
Headers = list[tuple[str, str]]
# etcd's default CORS handler adds these to every answer and answers OPTIONS itself.
CORS: Headers = [
    ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "accept, content-type, authorization"),
]


@dataclass(slots=True)
class HttpRequest:
    """A parsed HTTP request, independent of the HTTP library that read it."""

    method: str
    raw_path: bytes
    query: bytes = b""
    content_type: str = ""
    body: bytes = b""
    body_too_large: bool = False  # the body went past Limits.body_bytes: cut short
    authorization: str = ""  # the Authorization header, for auth.Authorizer
    peer_cn: str = ""  # common name of a verified TLS client certificate


@dataclass(slots=True)
class HttpResponse:
    """A complete answer: status, headers and body."""

    status: int
    headers: Headers
    body: bytes = b""
    raw_headers: bytes = b""  # more header lines, already encoded (after `headers`)


@dataclass(slots=True)
class WatchResponse:
    """A watch's answer: headers now, events streamed by the HTTP adapter later."""

    headers: Headers
    watch: Watch
    stream: bool


Answer = HttpResponse | WatchResponse


class Pending:
    """An answer not ready when `Api.dispatch` returns, in one of two ways it decided.

    A write handed to the backend (`in_task` false) is settled by the commit's
    completion, which calls the callback given to `then` there and then: no task, no
    future, answered in the loop iteration that learns of the fdatasync (a task may
    await `answer` instead). Anything else is work for the caller's task (`in_task`
    true), run by awaiting `answer`."""

    __slots__ = ("_answer", "_respond", "_work")

    def __init__(self, work: Callable[[], Awaitable[Answer]] | None = None) -> None:
        self._work = work
        self._answer: Answer | None = None
        self._respond: Callable[[Answer], None] | None = None

    @property
    def in_task(self) -> bool:
        return self._work is not None

    def settle(self, answer: Answer) -> None:
        respond, self._respond = self._respond, None
        if respond is None:
            self._answer = answer
        else:
            respond(answer)

    def then(self, respond: Callable[[Answer], None]) -> None:
        """`respond` gets the answer once it is settled (at once if it is already)."""
        answer, self._answer = self._answer, None
        if answer is None:
            self._respond = respond
        else:
            respond(answer)

    async def answer(self) -> Answer:
        """The answer: the work run in the awaiting task, or the settled answer."""
        if self._work is not None:
            return await self._work()
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

        def respond(answer: Answer) -> None:
            if not fut.done():  # the awaiting task may have been cancelled
                fut.set_result(answer)

        self.then(respond)
        return await fut


@dataclass
class Cluster:
    """Who this member says it is: etcd-shaped identities derived from its name."""

    name: str
    client_urls: list[str]
    started: float = field(default_factory=time.time)

    @property
    def member_id(self) -> str:
        return hashlib.sha256(b"member:" + self.name.encode()).hexdigest()[:16]

    @property
    def cluster_id(self) -> str:
        return hashlib.sha256(b"cluster:" + self.name.encode()).hexdigest()[:16]


def _json(
    status: int, obj: Any, headers: Headers | None = None, newline: bool = False
) -> HttpResponse:
    """etcd writes some answers with json.Marshal (no newline), others with an Encoder."""
    body = json.dumps(obj, separators=(",", ":")).encode() + (b"\n" if newline else b"")
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])], body)


def _lines(headers: Headers) -> bytes:
    """Header lines for a %-format template (a literal % doubled)."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).replace("%", "%%").encode("latin-1")


def _text(status: int, text: str, headers: Headers | None = None) -> HttpResponse:
    return HttpResponse(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
        + (headers or []),
        text.encode() + b"\n",
    )


def method_not_allowed(*allowed: str) -> HttpResponse:
    return _text(405, "Method Not Allowed", [("Allow", ",".join(allowed))])


def error_response(err: EtcdError, headers: Headers) -> HttpResponse:
    return HttpResponse(
        err.status,
        [*headers, ("Content-Type", "application/json"), ("X-Etcd-Index", str(err.index))],
        err.to_json(),
    )


def clean_url_path(p: str) -> str:
    """Go ServeMux's cleanPath: what a request path is redirected to if it differs."""
    if not p:
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    np = clean_path(p)
    if p.endswith("/") and np != "/":
        np = p if len(p) == len(np) + 1 and p.startswith(np) else np + "/"
    return np


def redirect(method: str, path: str, query: bytes) -> HttpResponse:
    location = quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        location += "?" + query.decode("latin-1")
    if method not in ("GET", "HEAD"):
        return HttpResponse(301, [("Location", location)])
    body = f'<a href="{html.escape(location)}">Moved Permanently</a>.\n\n'.encode()
    return HttpResponse(
        301, [("Content-Type", "text/html; charset=utf-8"), ("Location", location)], body
    )


def _body(e: Event, no_value: bool) -> bytes:
    """An event's answer body; `noValueOnSuccess` leaves only the action of a write."""
    if no_value and e.action in (SET, COMPARE_AND_SWAP, CREATE, UPDATE):
        return json.dumps({"action": e.action}, separators=(",", ":")).encode() + b"\n"
    return e.to_json()


def _rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat().replace("+00:00", "Z")


class Api:
    """etcd's v2 HTTP API (keys, auth, members, stats) over a keys backend."""

    def __init__(
        self,
        backend: KeysBackend,
        cluster: Cluster,
        auth: Authorizer | None = None,
        limits: Limits = DEFAULT,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.auth = auth
        self.cluster = cluster
        self._cluster_header = ("X-Etcd-Cluster-Id", cluster.cluster_id)
        # A read's headers as `_event` and `_general` give them, rendered once; the two
        # indexes (%d) are filled in per answer.
        fixed = [self._cluster_header, ("Content-Type", "application/json")]
        after = [("X-Raft-Term", RAFT_TERM), *CORS]
        self._read_head = (
            _lines(fixed) + b"X-Etcd-Index: %d\r\nX-Raft-Index: %d\r\n" + _lines(after)
        )
        # The paths `other` answers: the methods each allows, and its answer.
        get: tuple[str, ...] = ("GET",)
        self._routes: dict[str, tuple[tuple[str, ...], Callable[[], HttpResponse]]] = {
            "/health": (get, self._health),
            "/version": (get, self._version),
            "/metrics": (get, self._metrics),
            "/v2/machines": (("GET", "HEAD"), self._machines),
            "/v2/members": (get, self._members),
            "/v2/members/": (get, self._members),
            "/v2/members/leader": (get, self._leader),
        }

    def dispatch(self, req: HttpRequest) -> HttpResponse | Pending:
        """Every request's one way in: the answer now, or a `Pending` one.

        Most requests are plain (auth off, a clean ASCII key, no watch) and take a fast
        path decided here: a GET the backend can answer at once is answered now, inside
        the HTTP layer's parse callback, saving a task and a chain of coroutines, a
        fifth of a GET's CPU; a write goes to the backend with a completion that settles
        its `Pending`, saving the committer's wake-up, the write's future and the
        connection's task. Anything else (a watch, escapes, an unclean path, auth, keys
        under the auth record, a read that must wait) goes the general way, where every
        rule lives. Never raises."""
        method = req.method
        try:
            if method == "GET":
                key = self._plain_key(req)
                if key is not None and not key.endswith("/"):
                    resp = self._read_now(req, key)
                    if resp is not None:
                        return resp
            elif method in _WRITE_METHODS:
                key = self._plain_key(req)
                if key is not None and (method == "POST" or not key.endswith("/")):
                    return self._submit(req, key)
        except Exception:  # the general way answers it, and logs what went wrong
            log.debug("fast path failed on %s", method, exc_info=True)
        return Pending(partial(self._general, req))

    def _read_now(self, req: HttpRequest, key: str) -> HttpResponse | None:
        """A plain GET's answer if the backend has it at once (nothing undurable it
        could see), with the same bytes as the general way; None: it must wait."""
        try:
            if req.query:
                form = build_form("GET", req.query, "", b"", False, self.limits.form_params)
                kr, _ = parse_keys_request("GET", key, form)
                if kr.wait and not kr.quorum:
                    return None
            else:
                kr = KeysRequest("GET", key)
            e = self.backend.read_now(kr)
        except EtcdError as err:
            return self._with_cors(error_response(err, [self._cluster_header]))
        if e is None:
            return None
        head = self._read_head % (e.etcd_index, self.backend.index)
        return HttpResponse(200, [], e.to_json(), head)

    def _submit(self, req: HttpRequest, key: str) -> HttpResponse | Pending:
        """A plain write handed to the backend; its `Pending` is settled from the
        commit's completion once durable. A refusal before it is applied is answered
        now."""
        headers: Headers = [self._cluster_header]
        try:
            kr, no_value = self._parse(req, key)
        except EtcdError as err:
            return self._with_cors(error_response(err, headers))
        pending = Pending()

        def reply(result: Event | EtcdError) -> None:
            try:
                if isinstance(result, EtcdError):
                    resp = self._with_cors(error_response(result, headers))
                else:  # `_event`'s answer, with the head rendered as for reads
                    e = result
                    head = self._read_head % (e.etcd_index, self.backend.index)
                    resp = HttpResponse(201 if e.created else 200, [], _body(e, no_value), head)
            except Exception as exc:  # as `_route`: logged, answered etcd-style
                log.exception("internal error on %s %s", req.method, key)
                resp = self._with_cors(error_response(RaftInternal(str(exc)), headers))
            pending.settle(resp)

        try:
            self.backend.submit(kr, reply)
        except EtcdError as err:  # the server is stopping
            return self._with_cors(error_response(err, headers))
        except Exception as exc:  # as `_route`: logged, answered etcd-style
            log.exception("internal error on %s %s", req.method, key)
            return self._with_cors(error_response(RaftInternal(str(exc)), headers))
        return pending

    async def _general(self, req: HttpRequest) -> Answer:
        resp = await self._route(req)
        resp.headers.extend(CORS)
        return resp

    def _plain_key(self, req: HttpRequest) -> str | None:
        """The key of a request a fast path may take: auth off, a clean ASCII path
        under /v2/keys/ with no escapes, not a private key. None sends it the general
        way, where every rule lives."""
        if self.auth is not None and self.auth.enabled:
            return None
        raw = req.raw_path
        if not raw.startswith(b"/v2/keys/") or b"%" in raw or b"/." in raw or b"//" in raw:
            return None
        if not raw.isascii():
            return None
        key = raw[len(KEYS_PREFIX) :].decode("utf-8", "replace")
        return None if is_private(key) else key

    def _parse(self, req: HttpRequest, key: str) -> tuple[KeysRequest, bool]:
        """The keys request and etcd's noValueOnSuccess; raises EtcdError, also for a
        PUT or POST of a key past the key limits."""
        limits = self.limits
        form = build_form(
            req.method, req.query, req.content_type, req.body, req.body_too_large,
            limits.form_params,
        )  # fmt: skip
        kr, no_value = parse_keys_request(req.method, key, form)
        if kr.method in ("PUT", "POST"):  # what creates keys (a DELETE of one still works)
            limits.check_written_key(kr.path, kr.method)
        return kr, no_value

    @staticmethod
    def _with_cors(resp: HttpResponse) -> HttpResponse:
        resp.headers.extend(CORS)
        return resp

    async def _route(self, req: HttpRequest) -> HttpResponse | WatchResponse:
        try:
            path = unescape(req.raw_path, plus=False, text="strict")
        except UnicodeDecodeError:
            # etcd keeps keys as bytes; ours are text (on disk and in etcd v3 alike), and
            # folding bad bytes into U+FFFD would make /b%FF and /b%FE one key.
            err = InvalidField("the path is not valid UTF-8")
            return error_response(err, [self._cluster_header])
        except ValueError:
            return _text(400, "400 Bad Request")
        if req.method == "OPTIONS":
            return HttpResponse(200, [])
        if req.body_too_large and not path.startswith(KEYS_PREFIX):
            return _text(413, "http: request body too large")  # Go's MaxBytesReader
        cleaned = clean_url_path(path)
        if cleaned != path and req.method != "CONNECT":
            return redirect(req.method, cleaned, req.query)
        try:
            if path == KEYS_PREFIX or path.startswith(KEYS_PREFIX + "/"):
                return await self.keys(req, path[len(KEYS_PREFIX) :] or "/")
            if self.auth is not None and path.startswith(AUTH_PREFIX + "/"):
                status, headers, body = await self.auth.handle(
                    req.method, path, req.body, req.authorization, req.peer_cn
                )
                return HttpResponse(status, [self._cluster_header, *headers], body)
            return self.other(req.method, path)
        except Exception as exc:  # the last line of defence: log it, answer etcd-style
            log.exception("internal error on %s %s", req.method, path)
            return error_response(RaftInternal(str(exc)), [self._cluster_header])

    async def keys(self, req: HttpRequest, key: str) -> HttpResponse | WatchResponse:
        if req.method not in KEYS_METHODS:
            return method_not_allowed(*KEYS_METHODS)
        headers: Headers = [self._cluster_header]
        backend = self.backend
        try:
            kr, no_value = self._parse(req, key)
            if is_private(clean_path(kr.path)):  # never served as a key, even to root
                raise Unauthorized("Insufficient credentials", 0)
            if self.auth is not None:  # etcd checks access after parsing, before acting
                refused = await self.auth.check_keys(
                    req.method, kr.path, kr.recursive, req.authorization, req.peer_cn
                )
                if refused is not None:
                    raise refused
            if kr.wait and not kr.quorum:  # etcd turns a quorum GET into a plain get
                watch, found = await backend.watch(kr)
                if watch is not None:
                    headers += self._index_headers(watch.start_index)
                    return WatchResponse(headers, watch, kr.stream)
                assert found is not None
                return self._event(found, headers, False, watch=True)
            if kr.is_write:
                e = await backend.write(kr)
            else:
                e = await backend.read(kr)
        except EtcdError as err:
            return error_response(err, headers)
        return self._event(e, headers, no_value)

    def _index_headers(self, etcd_index: int) -> Headers:
        raft = str(self.backend.index)
        return [
            ("Content-Type", "application/json"),
            ("X-Etcd-Index", str(etcd_index)),
            ("X-Raft-Index", raft),
            ("X-Raft-Term", RAFT_TERM),
        ]

    def _event(
        self, e: Event, headers: Headers, no_value: bool, watch: bool = False
    ) -> HttpResponse:
        headers += self._index_headers(e.etcd_index)
        status = 201 if e.created and not watch else 200
        return HttpResponse(status, headers, _body(e, no_value))

    def other(self, method: str, path: str) -> HttpResponse:
        """Everything outside /v2/keys and the auth API: health, version, members, stats."""
        if path.startswith("/v2/stats/"):
            if method != "GET":
                return method_not_allowed("GET")
            return self._stats(path[len("/v2/stats/") :])
        route = self._routes.get(path)
        if route is None:
            return _text(404, "404 page not found")
        allowed, answer = route
        if method not in allowed:
            return method_not_allowed(*allowed)
        return answer()

    def _health(self) -> HttpResponse:
        # etcd sets no Content-Type here, so Go sniffs text/plain
        plain = [("Content-Type", "text/plain; charset=utf-8")]
        if self.backend.ready:
            return HttpResponse(200, plain, b'{"health":"true"}')
        return HttpResponse(503, plain, b'{"health":"false"}')

    def _metrics(self) -> HttpResponse:
        # Prometheus's text format, as etcd serves /metrics on its client URLs
        body = prometheus_client.generate_latest(metrics.REGISTRY)
        kind = prometheus_client.exposition.CONTENT_TYPE_PLAIN_0_0_4
        return HttpResponse(200, [("Content-Type", kind)], body)

    def _version(self) -> HttpResponse:
        # etcd's two fields, which clients check, and corral-store's own version
        versions = {"etcdserver": SERVER_VERSION, "etcdcluster": CLUSTER_VERSION}
        return _json(200, {**versions, "corral": __version__})

    def _machines(self) -> HttpResponse:
        urls = ", ".join(self.cluster.client_urls).encode()
        return HttpResponse(200, [("Content-Type", "text/plain; charset=utf-8")], urls)

    def _members(self) -> HttpResponse:
        members = {"members": [self._member()]}
        cluster_id = [("X-Etcd-Cluster-Id", self.cluster.cluster_id)]
        return _json(200, members, cluster_id, newline=True)

    def _leader(self) -> HttpResponse:
        return _json(200, self._member(), newline=True)

    def _stats(self, which: str) -> HttpResponse:
        if which == "store":
            return _json(200, self.backend.store_stats())
        if which == "self":
            return _json(200, self._self_stats())
        if which == "leader":
            return _json(200, {"leader": self.cluster.member_id, "followers": {}})
        return _text(404, "404 page not found")

    def _member(self) -> dict[str, Any]:
        c = self.cluster
        return {"id": c.member_id, "name": c.name, "peerURLs": [], "clientURLs": c.client_urls}

    def _self_stats(self) -> dict[str, Any]:
        c = self.cluster
        started = _rfc3339(c.started)
        return {
            "name": c.name,
            "id": c.member_id,
            "state": "StateLeader",
            "startTime": started,
            "leaderInfo": {
                "leader": c.member_id,
                "uptime": f"{time.time() - c.started:.6f}s",
                "startTime": started,
            },
            "recvAppendRequestCnt": 0,
            "sendAppendRequestCnt": 0,
        }
