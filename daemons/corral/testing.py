"""Real processes for tests, benchmarks and the demo: etcd 3.4 and corral-store; and
a daemon's /metrics scraped as Prometheus does.

Everything listens on 127.0.0.1. corral-store binds port 0 and reports the bound URLs
in its log (`serving client requests on URL`); etcd cannot, so it gets ports picked
by `free_port()`. Readiness is polled, never slept for, and `log_tail()` gives what a
failing test should print.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from corral import __version__
from corral.client import Client

READY_LINE = re.compile(r"serving client requests on (https?://[^\s\"]+)")

# (sample name, labels) -> value of one scrape
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page (counters as `<name>_total`)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def http_call(url: str, method: str, path: str, body: Any = None, form: str | None = None,
              auth: tuple[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    """One request on a fresh connection, as an etcd user sends it: a JSON `body` or a
    urlencoded `form`, HTTP Basic credentials `auth` (user, password). Returns the
    status and the body as JSON (None when empty, the text when not JSON)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    data: bytes | None = None
    if form is not None:
        data = form.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw.strip() else None
    except ValueError:
        return resp.status, raw.decode("utf-8", "replace")


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for servers that cannot bind 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def systemd_stand_in(directory: Path, log: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """What systemd gives a Type=notify unit with a watchdog: a bound NOTIFY_SOCKET and
    the environment naming it, WATCHDOG_USEC (0.4 s) and JOURNAL_STREAM (`log`, which a
    daemon's stderr must be, stands for the journal stream)."""
    log.touch()
    st = os.stat(log)
    path = str(directory / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        yield sock, dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000",
                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")  # fmt: skip


def datagrams(sock: socket.socket, seconds: float) -> list[str]:
    """Every datagram (an sd_notify message) `sock` receives within `seconds`."""
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class ManagedProcess:
    """A child process with its output in a log file, stopped on exit of the test."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None):
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as if the machine died: no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class EtcdServer(ManagedProcess):
    """Debian's etcd 3.4 with the v2 API on, as the differential reference or as a
    member of a cluster (`initial_cluster` lists every member as name=peer_url)."""

    def __init__(
        self,
        data_dir: Path,
        name: str = "ref",
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.peer_url = f"http://127.0.0.1:{self.peer_port}"
        cluster = initial_cluster or f"{name}={self.peer_url}"
        binary = shutil.which("etcd") or "/usr/bin/etcd"
        argv = [
            binary,
            "--name", name,
            "--data-dir", str(data_dir),
            "--enable-v2=true",
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new",
            "--log-level", "warn",
            *extra_args,
        ]  # fmt: skip
        super().__init__(argv, data_dir.parent / f"{name}.etcd.log")

    def start(self, timeout: float = 20.0) -> EtcdServer:
        self.spawn()
        client = Client(self.url, timeout=1.0)
        try:
            wait_until(lambda: self._ready(client), timeout, f"etcd {self.name} at {self.url}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from exc
        finally:
            client.close()
        return self

    def _ready(self, client: Client) -> bool:
        if not self.alive():
            raise RuntimeError(f"etcd {self.name} exited:\n{self.log_tail()}")
        return client.health()


def etcd_cluster(base_dir: Path, size: int = 3, extra_args: Sequence[str] = ()) -> list[EtcdServer]:
    """`size` etcd members on 127.0.0.1, started together and healthy."""
    names = [f"m{i}" for i in range(size)]
    peers = {n: free_port() for n in names}
    cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in peers.items())
    members = [
        EtcdServer(
            base_dir / n,
            name=n,
            peer_port=peers[n],
            initial_cluster=cluster,
            extra_args=extra_args,
        )
        for n in names
    ]
    for m in members:
        m.spawn()
    for m in members:
        client = Client(m.url, timeout=1.0)
        try:
            wait_until(functools.partial(m._ready, client), 30.0, f"etcd member {m.name}")
        finally:
            client.close()
    return members


class StoreServer(ManagedProcess):
    """corral-store as a child process on port 0 (it logs the URLs it bound)."""

    def __init__(
        self,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        listen: str = "http://127.0.0.1:0",
        log_path: Path | None = None,
    ):
        self.data_dir = data_dir
        self.urls: list[str] = []
        argv = [
            sys.executable, "-m", "corral.store",
            "--data-dir", str(data_dir),
            "--listen-client-urls", listen,
            *extra_args,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        super().__init__(argv, log_path or data_dir.parent / f"{data_dir.name}.store.log", env)
        self._log_offset = 0

    @property
    def url(self) -> str:
        return self.urls[0]

    def start(self, timeout: float = 20.0) -> StoreServer:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.urls = []
        self.spawn()
        try:
            wait_until(self._ready, timeout, f"corral-store in {self.data_dir}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from exc
        return self

    def _ready(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"corral-store exited:\n{self.log_tail()}")
        if not self.urls:
            with open(self.log_path, errors="replace") as f:
                f.seek(self._log_offset)
                found = READY_LINE.findall(f.read())
            if not found:
                return False
            self.urls = found
        client = Client(self.urls[0], timeout=1.0)
        try:
            return client.health()
        finally:
            client.close()

    def restart(self, timeout: float = 20.0) -> StoreServer:
        self.stop()
        return self.start(timeout)


def newer_format_refusal(program: str, place: str, found: int) -> str:
    """What `program` says of `place` (e.g. "state directory /x") that a newer version
    marked with format `found`: this one reads formats up to 1."""
    return (
        f"{place} has format {found}; this {program} (version {__version__}) reads formats"
        f" up to 1: upgrade {program}, or restore a backup taken before the newer one ran"
    )


def tree_state(base: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every path under `base` with its bytes (None for a directory), mode and mtime:
    equal before and after means nothing in the tree was written."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for path in sorted([base, *base.rglob("*")]):
        st = path.lstat()
        body = None if path.is_dir() else path.read_bytes()
        out[str(path.relative_to(base))] = (body, st.st_mode, st.st_mtime_ns)
    return out
