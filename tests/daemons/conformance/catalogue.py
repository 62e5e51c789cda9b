"""Every conformance scenario, in the order they run."""

from __future__ import annotations

from . import (
    scenarios_cas,
    scenarios_clients,
    scenarios_cluster,
    scenarios_errors,
    scenarios_forms,
    scenarios_keys,
    scenarios_ttl,
    scenarios_watch,
)
from .steps import Scenario

SCENARIOS: list[Scenario] = [
    *scenarios_keys.SCENARIOS,
    *scenarios_cas.SCENARIOS,
    *scenarios_ttl.SCENARIOS,
    *scenarios_watch.SCENARIOS,
    *scenarios_errors.SCENARIOS,
    *scenarios_forms.SCENARIOS,
    *scenarios_cluster.SCENARIOS,
    *scenarios_clients.SCENARIOS,
]

assert len({s.name for s in SCENARIOS}) == len(SCENARIOS), "scenario names must be unique"
