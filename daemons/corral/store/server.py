"""corral-store's process: a keys backend, the v2 API on every listener, signals.

Start-up order: load the backend (the data is recovered and expired TTLs are applied)
before listening, so nothing is ever served from a half-loaded store; then log
`serving client requests on URL` once per listener with its real port (tests and
the demo wait for that line), and `serving metrics on URL` for each
--listen-metrics-urls listener (plain HTTP, /metrics and /health only, as etcd's).
Under systemd it then says READY=1, WATCHDOG=1 from the event loop (a blocked or
stopped loop stops the pings, and systemd restarts it) and STOPPING=1 when it begins
to stop. SIGTERM/SIGINT: stop accepting, finish the commit in flight, end every long
poll, close connections, exit 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import signal
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from corral.etcd_errors import EtcdError
from corral.formats import FormatError
from corral.store import collector, metrics
from corral.store.api import Api, Cluster, HttpRequest, HttpResponse
from corral.store.auth_api import Authorizer
from corral.store.auth_store import AuthStore
from corral.store.backend import KeysBackend
from corral.store.disk import CorruptDataError
from corral.store.embedded import EmbeddedBackend
from corral.store.etcdv3.deadline import DEADLINE
from corral.store.etcdv3.sizes import MAX_BATCH, MAX_REQUEST_BYTES
from corral.store.etcdv3.staleness import MAX_STALENESS
from corral.store.http import HttpProtocol
from corral.store.limits import DEFAULT, Limits
from corral.store.tls import EtcdClientTLS, ServerTLS, TLSConfigError
from corral.systemd import Notifier

log = logging.getLogger("corral.store")
# Descriptors kept for the store's own files, the etcd client and the listeners.
RESERVED_FDS = 100


class ConfigError(Exception):
    """A command-line setting that cannot work."""


@dataclass
class Config:
    """corral-store's settings, from the command line."""

    data_dir: Path
    listen_urls: list[str]
    metrics_urls: list[str] = field(default_factory=list)
    backend: str = "embedded"
    etcd_endpoints: list[str] = field(default_factory=list)
    etcd_max_staleness: float = MAX_STALENESS
    etcd_request_timeout: float = DEADLINE
    etcd_max_request_bytes: int = MAX_REQUEST_BYTES
    etcd_max_batch: int = MAX_BATCH
    name: str = "default"
    tls: ServerTLS = field(default_factory=ServerTLS)
    etcd_tls: EtcdClientTLS = field(default_factory=EtcdClientTLS)
    limits: Limits = DEFAULT


def parse_listen_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{url}: only http:// and https:// listeners are supported")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{url}: bad port") from exc
    if parts.hostname is None or port is None:
        raise ConfigError(f"{url}: expected http://HOST:PORT")
    return parts.hostname, port


def parse_metrics_url(url: str) -> tuple[str, int]:
    """A --listen-metrics-urls URL: plain HTTP only (it exists for scrapers that hold
    no client certificate; /metrics on an https:// client URL serves the others)."""
    if urlsplit(url).scheme != "http":
        raise ConfigError(f"{url}: --listen-metrics-urls serves plain http:// only")
    return parse_listen_url(url)


# What a --listen-metrics-urls listener answers; any other path is 404.
METRICS_PATHS = {b"/metrics": "/metrics", b"/health": "/health"}
_NOT_FOUND = (404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n")


class MetricsOnly:
    """A metrics listener's handler: the API's /metrics and /health, nothing else (no
    key is readable without the client URLs' TLS)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def dispatch(self, req: HttpRequest) -> HttpResponse:
        """Answered at once, as `Api.dispatch` answers a plain GET."""
        path = METRICS_PATHS.get(req.raw_path)
        if path is None:
            status, headers, body = _NOT_FOUND
            return HttpResponse(status, list(headers), body)
        return self.api.other(req.method, path)


def descriptors_for(limits: Limits) -> Limits:
    """Raise the soft descriptor limit to the hard one (as Go's runtime does), and keep
    `connections` below it: past it, accept() would fail instead of answering 503."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open file limit to %d: %s", hard, exc)
    room = soft - RESERVED_FDS if soft != resource.RLIM_INFINITY else limits.connections
    if limits.connections > room:
        log.warning("at most %d connections: the open file limit is %d", max(room, 1), soft)
        return dataclasses.replace(limits, connections=max(room, 1))
    return limits


@dataclass
class Startup:
    """A backend to start, the errors that refuse its start, and whether it loads the
    whole tree into this process (then the collector's policy is set for it)."""

    backend: KeysBackend
    refusals: tuple[type[Exception], ...]
    holds_tree: bool


def _backend(config: Config, on_fatal: Callable[[], None]) -> Startup:
    """The configured backend, and what refuses its start."""
    if config.backend == "etcd":  # imported here: only this backend needs aiohttp
        from corral.store.etcdv3.backend import EtcdBackend
        from corral.store.etcdv3.client import EtcdUnavailable, check_endpoints

        try:
            backend = EtcdBackend(
                check_endpoints(config.etcd_endpoints), max_staleness=config.etcd_max_staleness
            )
            backend.gateway.deadline = config.etcd_request_timeout
            backend.gateway.max_request_bytes = config.etcd_max_request_bytes
            backend.committer.max_writes = config.etcd_max_batch
            if config.etcd_tls.configured:
                backend.gateway.ssl = config.etcd_tls.context()
        except ValueError as exc:  # TLSConfigError is one
            raise ConfigError(str(exc)) from None
        return Startup(backend, (EtcdUnavailable, FormatError), holds_tree=False)
    embedded = EmbeddedBackend(config.data_dir, on_fatal=on_fatal)
    return Startup(embedded, (CorruptDataError, FormatError), holds_tree=True)


async def start_holding_tree(backend: KeysBackend) -> None:
    """Start a backend that loads the whole key tree into this process, with the
    collector's policy for such a tree (`collector`)."""
    collector.tune_for_a_long_lived_tree()
    # Nothing but the store's own long-lived objects exists yet (no connection): frozen
    # once loaded, out of every later collection.
    with collector.paused(freeze=True):
        await backend.start()


async def _start(startup: Startup) -> bool:
    """Start the backend; False (logged) when it refuses."""
    try:
        if startup.holds_tree:
            await start_holding_tree(startup.backend)
        else:
            await startup.backend.start()
    except startup.refusals as exc:
        log.error("refusing to start: %s", exc)
        return False
    return True


def _quiet_tls_failures(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """A TLS handshake refused by a peer (etcd wanting a client certificate, a client
    with a foreign CA) is one line, not the event loop's traceback: it is the peer's
    answer, reported where the connection was used."""
    exc = context.get("exception")
    # uvloop reports a peer's refusal as "Fatal error on SSL protocol" with whatever it
    # met next on the closed transport (an SSLError, a timeout, a RuntimeError)
    if isinstance(exc, ssl.SSLError) or "SSL" in str(context.get("message", "")):
        log.warning("TLS connection failed: %s", exc or context.get("message"))
        return
    loop.default_exception_handler(context)


async def serve(config: Config) -> int:
    config = dataclasses.replace(config, limits=descriptors_for(config.limits))
    addresses = [parse_listen_url(u) for u in config.listen_urls]
    metrics_addresses = [parse_metrics_url(u) for u in config.metrics_urls]
    schemes = [urlsplit(u).scheme for u in config.listen_urls]
    try:
        config.tls.check(set(schemes))
        ssl_context = config.tls.context() if config.tls.cert_file else None
    except TLSConfigError as exc:
        raise ConfigError(str(exc)) from None
    asyncio.get_running_loop().set_exception_handler(_quiet_tls_failures)
    stop = asyncio.Event()
    # A backend that can no longer serve truthfully (memory unequal to disk) stops the
    # process as SIGTERM does.
    startup = _backend(config, on_fatal=stop.set)
    backend = startup.backend
    if not await _start(startup):
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    auth_store = await _load_auth(backend)
    if auth_store is None:
        await backend.stop()
        return 1
    figures = metrics.StoreCollector(backend.figures)
    metrics.REGISTRY.register(figures)
    try:
        return await _serve(
            config, backend, auth_store, ssl_context, addresses, metrics_addresses, stop
        )
    finally:
        metrics.REGISTRY.unregister(figures)


async def _serve(
    config: Config,
    backend: KeysBackend,
    auth_store: AuthStore,
    ssl_context: ssl.SSLContext | None,
    addresses: list[tuple[str, int]],
    metrics_addresses: list[tuple[str, int]],
    stop: asyncio.Event,
) -> int:
    """Listen, serve until `stop`, then stop serving and the backend."""
    loop = asyncio.get_running_loop()
    schemes = [urlsplit(u).scheme for u in config.listen_urls]
    # Only gateways sharing an etcd cluster see auth changes made elsewhere.
    follow = asyncio.create_task(
        auth_store.follow() if config.backend == "etcd" else asyncio.sleep(0)
    )
    cluster = Cluster(config.name, [])
    api = Api(
        backend, cluster, Authorizer(auth_store, config.tls.requires_client_cert), config.limits
    )
    connections: set[HttpProtocol] = set()
    # apart from the clients': a store full of clients can still be scraped
    scrapes: set[HttpProtocol] = set()
    scraped = MetricsOnly(api)
    servers: list[asyncio.Server] = []
    metrics_servers: list[asyncio.Server] = []
    try:
        for (host, port), scheme in zip(addresses, schemes, strict=True):
            server = await loop.create_server(
                lambda: HttpProtocol(api.dispatch, connections, config.limits),
                host,
                port,
                reuse_address=True,
                ssl=ssl_context if scheme == "https" else None,
            )
            servers.append(server)
        for host, port in metrics_addresses:
            server = await loop.create_server(
                lambda: HttpProtocol(scraped.dispatch, scrapes, config.limits),
                host,
                port,
                reuse_address=True,
            )
            metrics_servers.append(server)
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        for server in servers + metrics_servers:
            server.close()
        follow.cancel()
        await backend.stop()
        return 1
    _announce(config, servers, schemes, cluster, auth_store, backend)
    for url in _urls(metrics_servers, ["http"] * len(metrics_servers)):
        log.info("serving metrics on %s/metrics", url)
    notifier = Notifier()
    notifier.ready(f"serving {', '.join(cluster.client_urls)}")
    pings = asyncio.create_task(_watchdog(notifier))

    await stop.wait()
    notifier.stopping()
    pings.cancel()
    log.info("stopping: finishing in-flight writes and closing watches")
    for server in servers + metrics_servers:
        server.close()
    follow.cancel()
    await backend.stop()
    tasks = [c.task for c in connections | scrapes if c.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    for c in list(connections | scrapes):
        c._close()
    for server in servers + metrics_servers:
        await server.wait_closed()
    log.info("stopped")
    return 0


async def _watchdog(notifier: Notifier) -> None:
    """WATCHDOG=1 from the event loop itself, while it runs (systemd's WatchdogSec=):
    a loop blocked by a bug or a hung disk stops the pings."""
    interval = notifier.ping_interval()
    while interval is not None:
        notifier.watchdog()
        await asyncio.sleep(interval)


async def _load_auth(backend: KeysBackend) -> AuthStore | None:
    """The auth record, read before any listener; None (logged) when it cannot be
    read: the server fails closed, never starting with auth off."""
    auth_store = AuthStore(backend)
    try:
        await auth_store.load()
    except EtcdError as exc:
        log.error("refusing to start: cannot read the auth record: %s", exc.cause or exc)
        return None
    if auth_store.unreadable is not None:
        log.error("refusing to start: %s", auth_store.unreadable)
        return None
    return auth_store


def _announce(
    config: Config,
    servers: list[asyncio.Server],
    schemes: list[str],
    cluster: Cluster,
    auth_store: AuthStore,
    backend: KeysBackend,
) -> None:
    """Record each listener's real URL in `cluster` and log it (tests and the demo wait
    for `serving client requests on URL`), with what an operator must know."""
    cluster.client_urls.extend(_urls(servers, schemes))
    if auth_store.state.enabled:
        log.info("authentication is on")
    else:
        log.warning("authentication is off: every client may read and write every key")
    if config.tls.requires_client_cert:
        log.info("TLS listeners require a client certificate from %s", config.tls.trusted_ca_file)
    log.info("data in %s, backend %s", config.data_dir.resolve(), backend.name)
    for url in cluster.client_urls:
        log.info("serving client requests on %s", url)


def _urls(servers: list[asyncio.Server], schemes: list[str]) -> list[str]:
    """Each listener's real URL (its bound port, not the 0 it was asked for)."""
    urls = []
    for server, scheme in zip(servers, schemes, strict=True):
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
            urls.append(f"{scheme}://{shown}:{port}")
    return urls
