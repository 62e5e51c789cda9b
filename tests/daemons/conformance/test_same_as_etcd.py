"""The differential comparison: every scenario on each implementation of the store,
record by record against etcd's records for the same scenario. Where the store must
differ from etcd, the scenario's step says why and what is required instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .catalogue import SCENARIOS
from .conftest import Reference
from .normalise import describe_difference
from .runner import required_records, run_scenario
from .servers import IMPLEMENTATIONS, Implementation, Running
from .steps import Scenario

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module", params=IMPLEMENTATIONS, ids=lambda i: i.name)
def implementation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    chosen: Implementation = request.param
    running = Running(chosen, Path(tmp_path_factory.mktemp(chosen.name)))
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_same_as_etcd(reference: Reference, implementation: Running, scenario: Scenario):
    required = required_records(scenario, reference.records(scenario))
    try:
        actual = run_scenario(implementation.url, scenario)
    except OSError as exc:  # the server stopped answering: show why, from its log
        pytest.fail(f"{scenario.name}: {exc!r}\n--- server log ---\n{implementation.log_tail()}")
    difference = describe_difference(required, actual)
    assert not difference, (
        f"{implementation.implementation.name} differs from etcd in {scenario.name}:\n"
        f"{difference}\n--- server log ---\n{implementation.log_tail()}"
    )
