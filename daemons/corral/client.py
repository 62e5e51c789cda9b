"""Client for the store's etcd v2 keys API, using the Python standard library only.

Every Corral daemon, `corralctl` and the Ansible plugins talk to the store through
this one file. It must stay importable with nothing installed: a generated copy ships
in the collection's `plugins/module_utils/` and runs on air-gapped targets.

Invariants:
- A missing key, a failed compare or any other store error is raised as the
  `corral.etcd_errors` class of its errorCode (`KeyNotFound`, `TestFailed`, ...: an
  `EtcdError` with etcd's code/message/cause/index); it is never returned as data.
- A store that cannot be reached is `StoreUnavailable`, distinct from a store that
  answered with an error, so callers can retry one and not the other.
- HTTP goes through a `Transport`. The default keeps one keep-alive connection per
  endpoint; Ansible modules pass one built on `open_url` instead.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# re-exported (pyproject's mypy overrides): callers may catch the client's errors as
# `corral.client.StoreError`/`EtcdError`
from corral.etcd_errors import EtcdError, StoreError

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
ENDPOINT_ENV = "CORRAL_ENDPOINT"
# Defaults for the credentials every Client takes, so that a daemon's flags (or a
# systemd unit's Environment=) reach every Client it makes. A password comes from a
# file or the environment, never from a command line (it would show in `ps`).
CA_FILE_ENV = "CORRAL_CA_FILE"
CERT_FILE_ENV = "CORRAL_CERT_FILE"
KEY_FILE_ENV = "CORRAL_KEY_FILE"
USERNAME_ENV = "CORRAL_USERNAME"
PASSWORD_ENV = "CORRAL_PASSWORD"
PASSWORD_FILE_ENV = "CORRAL_PASSWORD_FILE"
TIMEOUT_ENV = "CORRAL_TIMEOUT"  # corralctl's --timeout and the plugins' timeout, not daemons'
# Names the Ansible plugins documented before every tool read the ones above (which
# match the --ca-file/--cert-file/--key-file flags): still read, with a warning.
DEPRECATED_ENV = {
    CA_FILE_ENV: "CORRAL_CA_CERT",
    CERT_FILE_ENV: "CORRAL_CLIENT_CERT",
    KEY_FILE_ENV: "CORRAL_CLIENT_KEY",
}

log = logging.getLogger(__name__)
_warned: set[str] = set()  # deprecated names already warned about in this process


def deprecated_env_message(old: str, name: str) -> str:
    return f"${old} is deprecated and will stop working: set ${name} instead"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def env_setting(name: str, warn: Callable[[str], None] = _warn_once) -> str | None:
    """The environment variable `name`, else its deprecated name (calling `warn` with
    a sentence that says which to set instead); None when neither is set."""
    if os.environ.get(name):
        return os.environ[name]
    old = DEPRECATED_ENV.get(name)
    if old and os.environ.get(old):
        warn(deprecated_env_message(old, name))
        return os.environ[old]
    return None


def default_endpoint(explicit: str | None = None) -> str:
    """The store URL: the explicit value, else $CORRAL_ENDPOINT, else the default."""
    return explicit or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


# `scheme://` then everything up to the last `@` of the same word: the user information
# of a URL, however odd its password (an `@`, `/` or `:` in it).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"]*@")


def redact_url(text: str) -> str:
    """`text` with the user information of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def url_credentials(endpoint: str) -> list[str]:
    """The user information (`user:password`) and passwords written in the URLs of
    `endpoint`, so that a caller can keep them out of its logs."""
    found = []
    for url in endpoint.split(","):
        for match in _USERINFO.finditer(url):
            userinfo = match.group(0)[len(match.group("scheme")) : -1]
            found.append(userinfo)
            password = userinfo.partition(":")[2]
            if password:
                found.append(password)
    return found


def read_password_file(path: str) -> str:
    """The first line of a password file; a StoreError naming the file, not its text."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read password file {path}: {exc}") from None


def _env_password() -> str | None:
    if os.environ.get(PASSWORD_FILE_ENV):
        return read_password_file(os.environ[PASSWORD_FILE_ENV])
    return os.environ.get(PASSWORD_ENV)


class StoreUnavailable(StoreError):
    """No endpoint could be reached, or the answer was not HTTP/JSON from a store."""


class StoreTimeout(StoreUnavailable, TimeoutError):
    """The store did not answer within the request's timeout (a TimeoutError too, so
    callers of either kind catch it; a plain TimeoutError crashed threads that retry
    on StoreError)."""


class WatchTimeout(StoreError):
    """A watch ended because its timeout passed before any event."""


@dataclass
class KeyNode:
    """One key or directory as the store returns it; `nodes` holds a directory's children."""
    key: str
    value: str | None = None
    dir: bool = False
    created_index: int = 0
    modified_index: int = 0
    ttl: int | None = None
    expiration: str | None = None
    nodes: list[KeyNode] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyNode:
        return cls(
            key=data.get("key", "/"),
            value=data.get("value"),
            dir=bool(data.get("dir", False)),
            created_index=int(data.get("createdIndex", 0)),
            modified_index=int(data.get("modifiedIndex", 0)),
            ttl=data.get("ttl"),
            expiration=data.get("expiration"),
            nodes=[cls.from_json(n) for n in data.get("nodes", []) or []],
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        if self.dir:
            out["dir"] = True
        else:
            out["value"] = self.value
        if self.expiration is not None:
            out["expiration"] = self.expiration
            out["ttl"] = self.ttl
        if self.nodes:
            out["nodes"] = [n.to_json() for n in self.nodes]
        out["modifiedIndex"] = self.modified_index
        out["createdIndex"] = self.created_index
        return out

    @property
    def name(self) -> str:
        """Last path component ("" for the root)."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def walk(self) -> Iterator[KeyNode]:
        """This node and every descendant, depth first."""
        yield self
        for child in self.nodes:
            yield from child.walk()

    def to_tree(self) -> Any:
        """A directory as a nested dict of names to values; a key as its value."""
        if not self.dir:
            return self.value
        return {child.name: child.to_tree() for child in self.nodes}


@dataclass
class Result:
    """One answer of the keys API: the action, the node, and the node it replaced."""
    action: str
    node: KeyNode
    prev_node: KeyNode | None = None
    etcd_index: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], etcd_index: int | None = None) -> Result:
        prev = data.get("prevNode")
        return cls(
            action=data.get("action", ""),
            node=KeyNode.from_json(data.get("node", {})),
            prev_node=KeyNode.from_json(prev) if prev else None,
            etcd_index=etcd_index,
        )


@dataclass
class Request:
    """One HTTP request as a `Transport` sends it (URL already joined with the endpoint)."""
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    timeout: float | None


@dataclass
class Response:
    """One HTTP answer as a `Transport` returns it, whatever its status."""
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class Transport(Protocol):
    """How a Client's requests reach the store: `HTTPTransport`, or in Ansible modules
    one built on `open_url`."""

    def __call__(self, request: Request) -> Response:
        """Send `request`. Any HTTP status is an answer; an endpoint that cannot be
        reached raises StoreUnavailable, one that does not answer in time TimeoutError."""

    def close(self) -> None:
        """Let go of the connections it keeps, if any."""


class HTTPTransport:
    """Keep-alive HTTP(S) over http.client, one connection per endpoint.

    Not thread-safe: give each thread its own Client.
    """

    def __init__(
        self,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        validate_certs: bool = True,
    ) -> None:
        self._ssl: ssl.SSLContext | None = None
        self._ca_file, self._cert_file, self._key_file = ca_file, cert_file, key_file
        self._validate = validate_certs
        self._conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:  # a missing or broken file is the operator's to fix: name it
                ctx = ssl.create_default_context(cafile=self._ca_file)
                if not self._validate:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                if self._cert_file:
                    ctx.load_cert_chain(self._cert_file, self._key_file)
            except (OSError, ssl.SSLError) as exc:
                files = ", ".join(f for f in (self._ca_file, self._cert_file, self._key_file) if f)
                raise StoreError(f"cannot load the TLS files ({files}): {exc}") from exc
            self._ssl = ctx
        return self._ssl

    def _connection(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        key = (scheme, host, port)
        conn = self._conns.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, context=self._context())
            else:
                conn = http.client.HTTPConnection(host, port)
            self._conns[key] = conn
        return conn

    def __call__(self, request: Request) -> Response:
        parts = urllib.parse.urlsplit(request.url)
        scheme = parts.scheme or "http"
        port = parts.port or (443 if scheme == "https" else 80)
        host = parts.hostname or "127.0.0.1"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        # A kept-alive connection the server closed fails on first use: retry once
        # on a fresh one. Only the reuse is retried, never a request that was answered.
        for attempt in (0, 1):
            conn = self._connection(scheme, host, port)
            reused = conn.sock is not None
            conn.timeout = request.timeout
            if conn.sock is not None:
                conn.sock.settimeout(request.timeout)
            try:
                conn.request(request.method, target, body=request.body, headers=request.headers)
                raw = conn.getresponse()
                body = raw.read()
            except TimeoutError as exc:
                self._drop(scheme, host, port)
                raise StoreTimeout(f"{scheme}://{host}:{port}: no answer within"
                                   f" {request.timeout}s") from exc  # fmt: skip
            except (OSError, http.client.HTTPException) as exc:
                self._drop(scheme, host, port)
                if attempt == 0 and reused and _is_stale_connection(exc):
                    continue
                raise StoreUnavailable(f"{scheme}://{host}:{port}: {exc}") from exc
            headers = {k.lower(): v for k, v in raw.getheaders()}
            if raw.will_close:
                self._drop(scheme, host, port)
            return Response(raw.status, headers, body)
        raise AssertionError("unreachable")

    def _drop(self, scheme: str, host: str, port: int) -> None:
        conn = self._conns.pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


def _is_stale_connection(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            http.client.RemoteDisconnected,
            http.client.BadStatusLine,
            BrokenPipeError,
            ConnectionResetError,
            ConnectionAbortedError,
        ),
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


class Client:
    """The etcd v2 keys API, plus the store's health, version, members and stats.

    `endpoint` may list several URLs separated by commas: a request that cannot reach
    one endpoint moves to the next only when the request is safe to repeat (reads), or
    when the connection was refused before anything was sent.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout: float | None = 5.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        validate_certs: bool = True,
        username: str | None = None,
        password: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.endpoints = [e.strip().rstrip("/") for e in default_endpoint(endpoint).split(",")]
        self.endpoints = [e for e in self.endpoints if e]
        if not self.endpoints:
            raise StoreError("no store endpoint given")
        for e in self.endpoints:
            if _USERINFO.search(e):
                # etcdctl ignores them silently; a password on a command line shows in `ps`
                raise StoreError(
                    f"endpoint {redact_url(e)} has credentials in it (user:password@): "
                    "give the user name and password as such (a password from a file or "
                    "the environment), not in the URL"
                )
        self.timeout = timeout
        env = os.environ.get
        self.transport: Transport = transport or HTTPTransport(
            ca_file or env_setting(CA_FILE_ENV),
            cert_file or env_setting(CERT_FILE_ENV),
            key_file or env_setting(KEY_FILE_ENV),
            validate_certs,
        )
        self._auth: str | None = None
        if username is None and env(USERNAME_ENV):
            username = env(USERNAME_ENV)
        if username is not None and password is None:
            password = _env_password()
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw HTTP ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        timeout: float | Literal[False] | None = False,
        json_body: Any = None,
    ) -> Response:
        """One HTTP request to the first endpoint that answers. `timeout=False` means
        the client's default; `None` waits forever (long-poll watches)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        headers: dict[str, str] = {"Accept": "application/json"}
        body: bytes | None = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if self._auth:
            headers["Authorization"] = self._auth
        wait = self.timeout if timeout is False else timeout
        repeatable = method in ("GET", "HEAD")
        last: StoreUnavailable | None = None
        for i, endpoint in enumerate(self.endpoints):
            req = Request(method, endpoint + path + query, body, dict(headers), wait)
            try:
                resp = self.transport(req)
            except StoreTimeout:
                raise  # answered by no one in time: not tried elsewhere, as before
            except StoreUnavailable as exc:
                last = exc
                if repeatable or _refused(exc):
                    continue
                raise
            if i:  # the endpoint that answered is tried first next time
                self.endpoints.insert(0, self.endpoints.pop(i))
            return resp
        raise last or StoreUnavailable("no store endpoint given")

    def _keys(
        self,
        method: str,
        key: str,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        timeout: float | Literal[False] | None = False,
    ) -> Result:
        path = "/v2/keys" + _quote_key(key)
        resp = self.request(method, path, params=params, form=form, timeout=timeout)
        data = _decode(resp)
        index = resp.headers.get("x-etcd-index")
        return Result.from_json(data, int(index) if index and index.isdigit() else None)

    # -- keys API ---------------------------------------------------------------

    def get(
        self, key: str, *, recursive: bool = False, sorted: bool = False, quorum: bool = False
    ) -> Result:
        params = {}
        if recursive:
            params["recursive"] = "true"
        if sorted:
            params["sorted"] = "true"
        if quorum:
            params["quorum"] = "true"
        return self._keys("GET", key, params)

    def set(
        self,
        key: str,
        value: str,
        *,
        ttl: int | None = None,
        prev_value: str | None = None,
        prev_index: int | None = None,
        prev_exist: bool | None = None,
    ) -> Result:
        form = {"value": value}
        if ttl is not None:
            form["ttl"] = str(ttl)
        if prev_value is not None:
            form["prevValue"] = prev_value
        if prev_index is not None:
            form["prevIndex"] = str(prev_index)
        if prev_exist is not None:
            form["prevExist"] = _flag(prev_exist)
        return self._keys("PUT", key, form=form)

    def create(self, key: str, value: str, *, ttl: int | None = None) -> Result:
        return self.set(key, value, ttl=ttl, prev_exist=False)

    def update(self, key: str, value: str, *, ttl: int | None = None) -> Result:
        return self.set(key, value, ttl=ttl, prev_exist=True)

    def set_dir(
        self, key: str, *, ttl: int | None = None, prev_exist: bool | None = None
    ) -> Result:
        form = {"dir": "true"}
        if ttl is not None:
            form["ttl"] = str(ttl)
        if prev_exist is not None:
            form["prevExist"] = _flag(prev_exist)
        return self._keys("PUT", key, form=form)

    def mkdir(self, key: str, *, ttl: int | None = None) -> Result:
        return self.set_dir(key, ttl=ttl, prev_exist=False)

    def refresh(
        self, key: str, ttl: int | None, *, dir: bool = False, prev_value: str | None = None
    ) -> Result:
        """Extend (or with ttl=None, clear) a TTL without changing the value and
        without waking watchers; with `prev_value`, only while the value is that."""
        form = {"refresh": "true", "prevExist": "true", "ttl": "" if ttl is None else str(ttl)}
        if dir:
            form["dir"] = "true"
        if prev_value is not None:
            form["prevValue"] = prev_value
        return self._keys("PUT", key, form=form)

    def append(self, directory: str, value: str, *, ttl: int | None = None) -> Result:
        """Create an in-order key under `directory` (POST)."""
        form = {"value": value}
        if ttl is not None:
            form["ttl"] = str(ttl)
        return self._keys("POST", directory, form=form)

    def delete(
        self,
        key: str,
        *,
        recursive: bool = False,
        dir: bool = False,
        prev_value: str | None = None,
        prev_index: int | None = None,
    ) -> Result:
        params = {}
        if recursive:
            params["recursive"] = "true"
        if dir:
            params["dir"] = "true"
        if prev_value is not None:
            params["prevValue"] = prev_value
        if prev_index is not None:
            params["prevIndex"] = str(prev_index)
        return self._keys("DELETE", key, params)

    def watch(
        self,
        key: str,
        *,
        index: int | None = None,
        recursive: bool = False,
        timeout: float | None = None,
    ) -> Result:
        """Wait for the next change at or after `index` (long poll). Raises
        `WatchTimeout` when `timeout` seconds pass without an event."""
        params = {"wait": "true"}
        if index is not None:
            params["waitIndex"] = str(index)
        if recursive:
            params["recursive"] = "true"
        try:
            return self._keys("GET", key, params, timeout=timeout)
        except TimeoutError as exc:
            raise WatchTimeout(f"no change of {key} within {timeout}s") from exc

    def watch_forever(
        self, key: str, *, index: int | None = None, recursive: bool = False
    ) -> Iterator[Result]:
        """Every change from `index` on, in order, none skipped. An index that has left
        the store's history raises EventIndexCleared (401): the caller must re-read and restart."""
        while True:
            result = self.watch(key, index=index, recursive=recursive)
            yield result
            index = result.node.modified_index + 1

    # -- cluster information ----------------------------------------------------

    def health(self) -> bool:
        try:
            resp = self.request("GET", "/health")
        except (StoreUnavailable, TimeoutError):  # a store too slow to answer is not healthy
            return False
        try:
            return resp.status == 200 and json.loads(resp.body).get("health") == "true"
        except ValueError:
            return False

    def version(self) -> dict[str, Any]:
        return _decode(self.request("GET", "/version"))

    def members(self) -> list[dict[str, Any]]:
        return list(_decode(self.request("GET", "/v2/members")).get("members", []))

    def stats(self, which: str) -> dict[str, Any]:
        """`which` is "self", "store" or "leader"."""
        return _decode(self.request("GET", f"/v2/stats/{which}"))


def _quote_key(key: str) -> str:
    if not key.startswith("/"):
        key = "/" + key
    return urllib.parse.quote(key, safe="/")


def _refused(exc: StoreUnavailable) -> bool:
    return isinstance(exc.__cause__, ConnectionRefusedError)


def _decode(resp: Response) -> dict[str, Any]:
    try:
        data = json.loads(resp.body) if resp.body else {}
    except ValueError as exc:
        raise StoreUnavailable(
            f"HTTP {resp.status}: answer is not JSON: {resp.body[:200]!r}"
        ) from exc
    if isinstance(data, dict) and "errorCode" in data:
        try:
            error = EtcdError.from_body(data, resp.status)
        except ValueError as exc:
            raise StoreUnavailable(f"HTTP {resp.status}: {exc}") from None
        raise error
    if resp.status >= 400:
        raise StoreUnavailable(f"HTTP {resp.status}: {resp.body[:200]!r}")
    if not isinstance(data, dict):
        raise StoreUnavailable(f"HTTP {resp.status}: unexpected answer {data!r:.200}")
    return data
