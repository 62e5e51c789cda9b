"""Lookup corral.cloud.kv loaded by Ansible's plugin loader, against a real store."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from corral.client import Client
from corral.testing import free_port


def kv():
    plugin = lookup_loader.get("corral.cloud.kv")
    assert plugin is not None, "corral.cloud.kv not found by Ansible's loader"
    return plugin


@pytest.fixture
def filled(endpoint: str) -> str:
    with Client(endpoint) as c:
        c.set("/app/port", "8080")
        c.set("/app/tls/cert", "/etc/app/cert.pem")
        c.set("/app/name", "web")
    return endpoint


def test_terms_are_keys_and_values_come_back_in_order(filled):
    assert kv().run(["/app/port", "app/name"], {}, endpoint=filled) == ["8080", "web"]


def test_a_directory_is_a_dict_and_recursive_nests_subdirectories(filled):
    flat = kv().run(["/app"], {}, endpoint=filled)
    assert flat == [{"port": "8080", "name": "web", "tls": {}}]
    nested = kv().run(["/app"], {}, endpoint=filled, recursive=True)
    assert nested == [{"port": "8080", "name": "web", "tls": {"cert": "/etc/app/cert.pem"}}]


def test_a_missing_key_fails_naming_key_and_store(filled):
    with pytest.raises(AnsibleLookupError) as exc:
        kv().run(["/app/port", "/app/nope"], {}, endpoint=filled)
    assert "/app/nope" in str(exc.value) and filled in str(exc.value)


def test_default_replaces_only_missing_keys_even_when_it_is_none(filled):
    assert kv().run(["/app/nope", "/app/port"], {}, endpoint=filled, default="x") == ["x", "8080"]
    assert kv().run(["/app/nope"], {}, endpoint=filled, default=None) == [None]


def test_endpoint_from_variables_then_environment(filled, monkeypatch):
    assert kv().run(["/app/port"], {"corral_endpoint": filled}) == ["8080"]
    monkeypatch.setenv("CORRAL_ENDPOINT", filled)
    assert kv().run(["/app/port"], {}) == ["8080"]
    # the keyword beats the environment
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AnsibleLookupError, match="cannot reach store"):
        kv().run(["/app/port"], {}, endpoint=dead)


def test_an_unreachable_store_is_a_clear_error():
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AnsibleLookupError) as exc:
        kv().run(["/k"], {}, endpoint=dead, timeout=1)
    assert "cannot reach store" in str(exc.value) and dead in str(exc.value)


class ConnectionCounter:
    """A TCP forwarder on 127.0.0.1 that counts the connections clients open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _peer = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def counter(filled: str) -> Iterator[ConnectionCounter]:
    proxy = ConnectionCounter(int(filled.rsplit(":", 1)[1]))
    yield proxy
    proxy.close()


def test_one_connection_serves_every_term(counter):
    url = f"http://127.0.0.1:{counter.port}"
    terms = ["/app/port", "/app/name", "/app/nope", "/app"] * 5
    values = kv().run(terms, {}, endpoint=url, default="-")
    assert values[:3] == ["8080", "web", "-"] and len(values) == 20
    assert counter.accepted == 1


def test_an_endpoint_that_is_not_a_url_is_refused():
    with pytest.raises(AnsibleError, match="'localhost:2379' is not an http"):
        kv().run(["/k"], {}, endpoint="localhost:2379")


def test_an_unknown_keyword_is_an_error_naming_it(filled):
    with pytest.raises(AnsibleError, match="unknown keyword bogus, recursve; known: ") as exc:
        kv().run(["/app/port"], {}, endpoint=filled, bogus=1, recursve=True)
    assert "recursive" in str(exc.value)
