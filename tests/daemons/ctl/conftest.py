"""A `pair` of fresh servers of one kind for each differential test of corralctl kv."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ctl_diff import Pair

from corral.testing import EtcdServer, ManagedProcess, StoreServer

KINDS = ["etcd", "store"]


def _start(kind: str, base: Path) -> ManagedProcess:
    if kind == "etcd":
        return EtcdServer(base / "etcd").start()
    return StoreServer(base / "store").start()


@pytest.fixture(scope="module", params=KINDS)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """etcdctl's server and corralctl's server, fresh for each test module and of the
    same kind. Tests of one module share them (starting servers dominates the run
    time), so each test uses keys of its own; both sides see the same sequence."""
    if shutil.which("etcdctl") is None:
        pytest.fail("etcdctl not installed: run `make test`, which installs etcd-client")
    tmp_path = tmp_path_factory.mktemp(f"kv-{request.param}")
    servers: list[ManagedProcess] = []
    try:
        for side in ("reference", "subject"):
            servers.append(_start(request.param, tmp_path / side))
        urls = [s.url for s in servers]  # type: ignore[attr-defined]
        yield Pair(urls[0], urls[1], tmp_path)
    finally:
        for server in servers:
            server.stop()
