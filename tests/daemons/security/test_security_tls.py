"""TLS on corral-store as every client sees it: corral.client, corralctl and the
`corral.cloud.kv` lookup (through the real `ansible` command) trust a store whose
certificate the given CA signed, and refuse a wrong CA, an expired and a self-signed
certificate. With client-cert auth, a client without a certificate is refused during
the handshake, before any HTTP, while the loopback plain-HTTP listener still serves."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Ctl, ansible_env, tls_store
from security_pki import Pki

from corral.client import Client, StoreUnavailable
from corral.testing import ManagedProcess, StoreServer, free_port, wait_until

BIN = Path(sys.executable).parent


def lookup(collections: Path, url: str, ca: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = ansible_env(collections, tmp, CORRAL_ENDPOINT=url, CORRAL_CA_CERT=str(ca))
    return subprocess.run(
        [str(BIN / "ansible"), "localhost", "-m", "ansible.builtin.debug",
         "-a", "msg={{ lookup('corral.cloud.kv', '/greeting') }}"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stores(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, StoreServer]]:
    base = tmp_path_factory.mktemp("tls-stores")
    started: dict[str, StoreServer] = {}
    try:
        for name, cert in (
            ("good", pki.server),
            ("expired", pki.expired_server),
            ("self-signed", pki.self_signed_server),
        ):
            started[name] = tls_store(base / name, cert)
            with Client(started[name].urls[0]) as plain:
                plain.set("/greeting", f"hello from {name}")
        yield started
    finally:
        for s in started.values():
            s.stop()


# (store, CA the client trusts): each must be refused by every client
REFUSED = [("good", "other"), ("expired", "ca"), ("self-signed", "ca")]


def _ca(pki: Pki, which: str) -> Path:
    return pki.ca if which == "ca" else pki.other_ca


def test_the_right_ca_is_trusted_by_every_client(
    stores: dict[str, StoreServer], pki: Pki, ctl: Ctl, collections: Path, tmp_path: Path
) -> None:
    url = stores["good"].urls[1]
    assert url.startswith("https://")
    with Client(url, ca_file=str(pki.ca)) as client:
        assert client.get("/greeting").node.value == "hello from good"
    done = ctl("--endpoint", url, "--ca-file", str(pki.ca), "kv", "get", "/greeting")
    assert (done.returncode, done.stdout) == (0, "hello from good\n"), done.stderr
    played = lookup(collections, url, pki.ca, tmp_path)
    assert played.returncode == 0, played.stdout + played.stderr
    assert "hello from good" in played.stdout


def test_an_https_store_is_not_trusted_without_a_ca(stores: dict[str, StoreServer]) -> None:
    client = Client(stores["good"].urls[1])  # the system trust store only
    with client, pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        client.get("/greeting")


@pytest.mark.parametrize(("store", "ca"), REFUSED)
def test_a_bad_server_certificate_is_refused_by_every_client(
    store: str,
    ca: str,
    stores: dict[str, StoreServer],
    pki: Pki,
    ctl: Ctl,
    collections: Path,
    tmp_path: Path,
) -> None:
    url, trusted = stores[store].urls[1], _ca(pki, ca)
    client = Client(url, ca_file=str(trusted))
    with client, pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        client.get("/greeting")
    done = ctl("--endpoint", url, "--ca-file", str(trusted), "kv", "get", "/greeting")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "certificate verify failed" in done.stderr
    assert "hello" not in done.stdout
    played = lookup(collections, url, trusted, tmp_path)
    assert played.returncode != 0
    assert "certificate verify failed" in played.stdout + played.stderr
    assert "hello from" not in played.stdout + played.stderr


@pytest.fixture
def client_cert_store(pki: Pki, tmp_path: Path) -> Iterator[StoreServer]:
    server = tls_store(tmp_path / "mtls", pki.server, ("--trusted-ca-file", str(pki.ca)))
    try:
        yield server
    finally:
        server.stop()


def _handshake(url: str, ca: Path, cert: tuple[Path, Path] | None) -> None:
    """A bare TLS handshake and one read: how far a client gets without HTTP."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    raw = socket.create_connection((host, int(port)), timeout=5)
    with raw, ctx.wrap_socket(raw, server_hostname=host) as tls:
        # TLS 1.3 reports the server's refusal on the first read
        tls.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        if not tls.recv(1024):
            raise ConnectionResetError("closed without an answer")


def test_client_cert_auth_refuses_a_client_without_a_certificate_at_the_handshake(
    client_cert_store: StoreServer, pki: Pki, ctl: Ctl
) -> None:
    plain, tls = client_cert_store.urls
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        _handshake(tls, pki.ca, None)
    assert "CERTIFICATE_REQUIRED" in str(refused.value) or isinstance(
        refused.value, ConnectionResetError
    )
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        _handshake(tls, pki.ca, pki.stranger_client)  # a certificate from another CA
    _handshake(tls, pki.ca, pki.root_client)

    client = Client(tls, ca_file=str(pki.ca))
    with client, pytest.raises(StoreUnavailable):
        client.set("/k", "v")
    cert, key = pki.root_client
    with Client(tls, ca_file=str(pki.ca), cert_file=str(cert), key_file=str(key)) as client:
        assert client.set("/k", "v").node.value == "v"
    done = ctl("--endpoint", tls, "--ca-file", str(pki.ca), "--cert-file", str(cert),
               "--key-file", str(key), "kv", "get", "/k")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "v\n"), done.stderr
    # the loopback listener needs no certificate, as with etcd
    with Client(plain) as client:
        assert client.get("/k").node.value == "v"
        root = {"user": "root", "password": "unused-here"}
        assert client.request("PUT", "/v2/auth/users/root", json_body=root).status == 201
        assert client.request("PUT", "/v2/auth/enable").status == 200
        # with auth on, only root may list users: a certificate whose CN is root is root
        assert client.request("GET", "/v2/auth/users").status == 401
    with Client(tls, ca_file=str(pki.ca), cert_file=str(cert), key_file=str(key)) as client:
        assert client.request("GET", "/v2/auth/users").status == 200


def test_bad_tls_flags_are_refused_with_one_line(tmp_path: Path, pki: Pki) -> None:
    cases = [
        (["--listen-client-urls", "https://127.0.0.1:0"], "needs --cert-file"),
        (["--cert-file", str(pki.server[0])], "go together"),
        (["--cert-file", str(pki.ca), "--key-file", str(pki.server[1]),
          "--listen-client-urls", "https://127.0.0.1:0"], "cannot load TLS files"),
        (["--client-cert-auth", "--cert-file", str(pki.server[0]), "--key-file",
          str(pki.server[1]), "--listen-client-urls", "https://127.0.0.1:0"],
         "needs --trusted-ca-file"),
        (["--trusted-ca-file", str(pki.ca)], "needs --cert-file/--key-file"),
    ]  # fmt: skip
    for extra, expected in cases:
        done = subprocess.run(
            [sys.executable, "-m", "corral.store", "--data-dir", str(tmp_path / "d"), *extra],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (extra, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr


def test_the_etcd_backend_talks_tls_to_etcd_with_its_own_certificate(
    pki: Pki, tmp_path: Path
) -> None:
    """etcd serving only https:// and requiring client certificates: a gateway given
    the CA and a client certificate works; one without the certificate refuses to start
    with one line instead of serving an unusable store."""
    client_url, peer_url = f"https://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    etcd = ManagedProcess(
        ["etcd", "--name", "tls", "--data-dir", str(tmp_path / "etcd"), "--enable-v2=true",
         "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
         "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
         "--initial-cluster", f"tls={peer_url}", "--initial-cluster-state", "new",
         "--cert-file", str(pki.server[0]), "--key-file", str(pki.server[1]),
         "--client-cert-auth", "--trusted-ca-file", str(pki.ca), "--log-level", "warn"],
        tmp_path / "etcd.log",
    )  # fmt: skip
    etcd.spawn()
    cert, key = pki.root_client
    gateway_args = ["--backend", "etcd", "--etcd-endpoints", client_url,
                    "--etcd-ca-file", str(pki.ca)]  # fmt: skip
    store: StoreServer | None = None
    try:
        with Client(client_url, ca_file=str(pki.ca), cert_file=str(cert), key_file=str(key),
                    timeout=1) as probe:  # fmt: skip
            wait_until(lambda: etcd.alive() and probe.health(), 30, "etcd over TLS")
        store = StoreServer(
            tmp_path / "gw",
            [*gateway_args, "--etcd-cert-file", str(cert), "--etcd-key-file", str(key)],
        ).start()
        with Client(store.url) as c:
            c.set("/over-tls", "yes")
            assert c.get("/over-tls").node.value == "yes"
        refused = subprocess.run(
            [sys.executable, "-m", "corral.store", "--data-dir", str(tmp_path / "gw2"),
             "--listen-client-urls", "http://127.0.0.1:0", *gateway_args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert "refusing to start" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        if store is not None:
            store.stop()
        etcd.stop()
