"""Fixtures of the store's tests that run on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.store.etcdv3.testing import GatewayOverEtcd
from corral.testing import StoreServer


@pytest.fixture(params=["embedded", "etcd"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The client URL of a fresh corral-store, on each backend in turn."""
    server: StoreServer | GatewayOverEtcd
    if request.param == "embedded":
        server = StoreServer(tmp_path / "store")
    else:
        server = GatewayOverEtcd(tmp_path)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
