"""The differential comparison: every scenario on each implementation of the store,
record by record against etcd's records for the same scenario. Where the store must
differ from etcd, the scenario's step says why and what is required instead."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from .catalogue import SCENARIOS
from .conftest import Reference
from .normalise import Record, describe_difference
from .runner import recorded_steps, required_records, run_scenario
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
    if implementation.implementation.leases:
        required, actual = lease_ordered(scenario, required), lease_ordered(scenario, actual)
    difference = describe_difference(required, actual)
    assert not difference, (
        f"{implementation.implementation.name} differs from etcd in {scenario.name}:\n"
        f"{difference}\n--- server log ---\n{implementation.log_tail()}"
    )


def lease_ordered(scenario: Scenario, records: list[Record]) -> list[Record]:
    """The records of steps marked `in_lease_order`, compared as a multiset: each
    event's own index is set aside (the group's indexes, sorted, are compared
    instead), and the records are sorted among themselves, each keeping its step."""
    marked = [i for i, s in enumerate(recorded_steps(scenario)) if getattr(s, "lease_order", "")]
    if not marked or len(records) < max(marked) + 1:
        return records
    parts, indexes = [], []
    for i in marked:
        part = copy.deepcopy({k: v for k, v in records[i].items() if k != "step"})
        node = part.get("body", {}).get("node") if isinstance(part.get("body"), dict) else None
        if isinstance(node, dict):
            indexes.append(str(node.pop("modifiedIndex", "")))
        parts.append(part)
    parts.sort(key=repr)
    out = list(records)
    for i, part in zip(marked, parts, strict=True):
        out[i] = {"step": records[i]["step"], **part, "group indexes": sorted(indexes)}
    return out
