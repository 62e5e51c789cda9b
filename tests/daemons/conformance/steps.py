"""The vocabulary scenarios are written in: steps as plain data.

A scenario is a list of steps. Each step that produces a record is compared between
etcd and the server under test. Paths are store keys ("/cas/a"); the helpers add
"/v2/keys". Indexes in requests are written relative to the scenario's base index as
`{i+N}` (`{I+N}` for the 20-digit name of the in-order key created at that index) and
filled in by the runner, so a scenario is the same on every server.

`only` restricts the comparison to some parts of a record ("status", "headers",
"body"); a step that uses it must say `why` our behaviour may differ there.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any

from .wire import Request

KEYS = "/v2/keys"


@dataclass(frozen=True)
class Call:
    """One request on the scenario's connection; its reply is recorded."""

    request: Request
    only: tuple[str, ...] | None = None
    why: str = ""
    expect: dict[str, Any] | None = None  # hand-checked parts of etcd's normalised record
    shape: bool = False  # compare the JSON structure only (stats, members, version)
    instead: dict[str, Any] | None = None  # what we require where etcd's answer is wrong
    # Why, on a backend whose TTLs are etcd v3 leases, the records of the steps so
    # marked may come in any order among themselves (compared as a multiset).
    lease_order: str = ""

    @property
    def label(self) -> str:
        return self.request.describe()


@dataclass(frozen=True)
class Watch:
    """Start a long poll on a connection of its own; `Await` records its reply."""

    name: str
    request: Request

    @property
    def label(self) -> str:
        return f"watch {self.name}: {self.request.describe()}"


@dataclass(frozen=True)
class Await:
    name: str
    expect: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"await {self.name}"


@dataclass(frozen=True)
class Hangup:
    """Close a pending long poll's connection from the client side, unanswered."""

    name: str

    @property
    def label(self) -> str:
        return f"hang up {self.name}"


@dataclass(frozen=True)
class WatcherCount:
    """Poll `/v2/stats/store` (bounded) until it counts `count` watchers; record the
    count it settled on, so a server that leaks the watchers of closed connections
    shows the leak."""

    count: int
    timeout: float = 10.0

    @property
    def label(self) -> str:
        return f"watchers settle at {self.count}"


@dataclass(frozen=True)
class PollUntil:
    """Repeat a request until its status is `status` (bounded); record the last reply."""

    request: Request
    status: int
    timeout: float = 10.0

    @property
    def label(self) -> str:
        return f"poll {self.request.describe()} until {self.status}"


@dataclass(frozen=True)
class Repeat:
    """Send a request `count` times without recording (to fill the event history)."""

    request: Request
    count: int

    @property
    def label(self) -> str:
        return f"{self.count} x {self.request.describe()}"


@dataclass(frozen=True)
class Etcdctl:
    """Run Debian's etcdctl (ETCDCTL_API=2) against the server; record rc and output."""

    args: tuple[str, ...]
    stdin: str = ""
    expect: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return "etcdctl " + " ".join(self.args)


@dataclass(frozen=True)
class Curl:
    """Run the system's curl against the server (`{url}` in the arguments is the
    server's URL); record its exit code, every status line it saw, and the body."""

    args: tuple[str, ...]
    stdin: bytes = b""
    expect: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        shown = " ".join(a if len(a) < 80 else a[:40] + "..." for a in self.args)
        return f"curl {shown}" + (f" <{len(self.stdin)} bytes in>" if self.stdin else "")


Step = Call | Watch | Await | Hangup | WatcherCount | PollUntil | Repeat | Etcdctl | Curl


@dataclass(frozen=True)
class Scenario:
    """A named list of steps; `name` is also the directory the scenario works in."""

    name: str
    steps: list[Step] = field(default_factory=list)

    @property
    def root(self) -> str:
        return "/" + self.name


def _query(target: str, query: dict[str, Any]) -> str:
    if not query:
        return target
    sep = "&" if "?" in target else "?"
    return target + sep + urllib.parse.urlencode({k: _text(v) for k, v in query.items()})


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _form(form: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((k, _text(v)) for k, v in form.items())


def request(method: str, key: str, query: dict[str, Any] | None = None, **form: Any) -> Request:
    """A keys API request: `query` goes in the URL, keyword arguments in a form body."""
    path = urllib.parse.quote(KEYS + key, safe="/")
    return Request(method, _query(path, query or {}), _form(form))


def get(key: str, **query: Any) -> Call:
    return Call(request("GET", key, query))


def head(key: str, **query: Any) -> Call:
    return Call(request("HEAD", key, query))


def delete(key: str, **query: Any) -> Call:
    return Call(request("DELETE", key, query))


def put(key: str, query: dict[str, Any] | None = None, **form: Any) -> Call:
    return Call(request("PUT", key, query, **form))


def post(key: str, query: dict[str, Any] | None = None, **form: Any) -> Call:
    return Call(request("POST", key, query, **form))


def http(method: str, target: str, body: bytes | None = None, **headers: str) -> Call:
    """Any request on any path, the target sent exactly as written."""
    hdrs = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Call(Request(method, target, headers=hdrs, body=body))


def raw(data: bytes) -> Call:
    """Bytes written to a fresh connection as they are (malformed HTTP)."""
    return Call(Request("RAW", "", raw=data))


def watch(name: str, key: str, **query: Any) -> Watch:
    return Watch(name, request("GET", key, {"wait": True, **query}))


def expecting(step: Call, **parts: Any) -> Call:
    """Pin parts of etcd's normalised record by hand (`body`, `status`, `body.node.key`),
    so that normalisation cannot hide a real difference."""
    return replace(step, expect={k.replace("__", "."): v for k, v in parts.items()})


def differs(
    step: Call, only: tuple[str, ...], why: str, instead: dict[str, Any] | None = None
) -> Call:
    """Compare only some parts of this step's record, for the reason given; with
    `instead`, require those parts to be as given rather than as etcd's."""
    assert why.strip(), "a step that differs from etcd must say why"
    return replace(step, only=only, why=why, instead=instead)


def in_lease_order(step: Call, why: str) -> Call:
    """Mark a step whose answer depends on the order in which TTLs expire."""
    assert why.strip(), "a step that differs on leases must say why"
    return replace(step, lease_order=why)


def put_body(target: str, body: bytes) -> Call:
    """A PUT of a form body written by hand, on a target sent exactly as written."""
    return http("PUT", target, body, Content_Type="application/x-www-form-urlencoded")


# etcd's CORS headers, sent on every answer of its client listener.
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE",
    "access-control-allow-headers": "accept, content-type, authorization",
}
