"""corral-fleet's Prometheus metrics, in one registry of their own (served by
`--metrics-listen`, read directly by tests).

Who exports what: every agent exports its own units, its store errors and whether it
holds the engine; only the elected engine exports the cluster's machines, placements
and failovers (a non-leader's machine gauges are empty), so sums over every agent's
series count each thing once.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from corral.client import EtcdError, StoreError, StoreUnavailable, WatchTimeout

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes...

MACHINES = Gauge(
    "corral_fleet_machines",
    "Machines with a live record, as the elected engine sees them (state: up, drained);"
    " empty on agents that are not the engine",
    ["state"],
    registry=REGISTRY,
)
UNITS = Gauge(
    "corral_fleet_units",
    "Units this agent runs, by desired state (loaded, launched) and current active state"
    " (active, inactive, failed, activating...)",
    ["desired", "current"],
    registry=REGISTRY,
)
PLACEMENTS = Counter(
    "corral_fleet_placements",
    "Units the engine placed on a machine (schedule writes naming a machine)",
    registry=REGISTRY,
)
FAILOVERS = Counter(
    "corral_fleet_failovers",
    "Units the engine moved off a machine whose record expired or was removed",
    registry=REGISTRY,
)
FAILOVER_SECONDS = Histogram(
    "corral_fleet_failover_seconds",
    "Seconds from a machine's record vanishing (as the engine saw it) to each of its units"
    " being placed elsewhere",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
ENGINE_LEADER = Gauge(
    "corral_fleet_engine_leader",
    "1 while this agent holds the engine election, else 0",
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "corral_fleet_store_errors",
    "Store requests that failed, by operation (register, heartbeat, converge, election,"
    " schedule) and kind (unavailable, timeout, etcd_1xx..etcd_4xx, other)",
    ["operation", "kind"],
    registry=REGISTRY,
)


# every operation's `unavailable` series exported at 0 from the start: rate() and a
# dashboard see zero errors, not no data
OPERATIONS = ("register", "heartbeat", "converge", "election", "schedule")
for _operation in OPERATIONS:
    STORE_ERRORS.labels(_operation, "unavailable")


def error_kind(exc: StoreError) -> str:
    """A bounded label for a store error: etcd's code class, never the code a store sent."""
    if isinstance(exc, EtcdError):
        family = exc.code // 100
        return f"etcd_{family}xx" if 1 <= family <= 4 else "etcd_other"
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    if isinstance(exc, WatchTimeout):
        return "timeout"
    return "other"


def store_error(operation: str, exc: StoreError) -> None:
    STORE_ERRORS.labels(operation, error_kind(exc)).inc()
