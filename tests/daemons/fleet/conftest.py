"""Fixtures of the scheduler's tests: a store and a fleet of agents on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_harness import Fleet

from corral.testing import EtcdServer


@pytest.fixture
def fleet(etcd: EtcdServer, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(etcd.url, tmp_path / "fleet")
    try:
        yield f
    finally:
        f.close()
