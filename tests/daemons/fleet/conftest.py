"""Fixtures of the scheduler's tests: a fleet of agents on corral-store, and on real
etcd 3.4 as the reference (the agents must not care which answers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_harness import Fleet, unload_all

from corral.fleet.process_executor import ProcessExecutor


@pytest.fixture(params=["store", "etcd"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    server = request.getfixturevalue(request.param)
    f = Fleet(server.url, tmp_path / "fleet")
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[ProcessExecutor]:
    """A process executor on its own state directory, its units unloaded afterwards."""
    ex = ProcessExecutor(tmp_path / "state")
    try:
        yield ex
    finally:
        unload_all(ex)
