"""Fixtures of the conformance suite: one reference etcd for the whole session, and
each scenario's records on it, computed once and shared by every comparison."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from corral.testing import EtcdServer

from .normalise import Record
from .runner import run_scenario
from .servers import start_reference
from .steps import Scenario


class Reference:
    """Real etcd 3.4 and the records of the scenarios already run on it."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server
        self.runs: dict[str, list[Record]] = {}

    def records(self, scenario: Scenario) -> list[Record]:
        if scenario.name not in self.runs:
            self.runs[scenario.name] = run_scenario(self.server.url, scenario)
        return self.runs[scenario.name]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    if shutil.which("etcd") is None:
        pytest.fail("etcd not installed: run `make test`, which installs etcd-server")
    server = start_reference(tmp_path_factory.mktemp("reference"))
    try:
        yield Reference(server)
    finally:
        server.stop()
