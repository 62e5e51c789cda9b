"""etcd kept honest: every scenario runs on it twice, at different base indexes, so
normalisation cannot make an unstable answer look stable; key steps carry
hand-written expectations of etcd's answer, so normalisation cannot make two wrong
answers look alike."""

from __future__ import annotations

import pytest

from .catalogue import SCENARIOS
from .conftest import Reference
from .normalise import describe_difference
from .runner import check_expectations, run_scenario
from .steps import Scenario

pytestmark = pytest.mark.etcd


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_etcd_answers_as_written_and_stably(reference: Reference, scenario: Scenario):
    first = reference.records(scenario)
    failures = check_expectations(scenario, first)
    assert not failures, "etcd no longer answers as the scenario says:\n" + "\n".join(failures)
    second = run_scenario(reference.server.url, scenario)
    difference = describe_difference(first, second)
    assert not difference, f"etcd answered differently the second time:\n{difference}"
