"""Fixtures shared by every test: real etcd and corral-store processes on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.testing import EtcdServer, StoreServer


def _need_etcd() -> None:
    if shutil.which("etcd") is None:
        pytest.fail("etcd not installed: run `make test`, which installs etcd-server")


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    """A fresh single-node etcd 3.4 with the v2 API."""
    _need_etcd()
    server = EtcdServer(tmp_path / "etcd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreServer]:
    """A fresh corral-store on the embedded backend."""
    server = StoreServer(tmp_path / "store").start()
    try:
        yield server
    finally:
        server.stop()
