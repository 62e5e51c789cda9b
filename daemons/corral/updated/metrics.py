"""corral-updated's Prometheus metrics, in one registry of their own (served by
`--metrics-listen`, read directly by tests).

Set by the engine where it acts (its status record, its checks, the health gate, the
reboot lock) and by the download thread where it reads from the mirror; the slots'
versions are read from the slots on every pass, as the engine reads them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Info, ProcessCollector

from corral.updated.records import STATUSES

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes...

STATUS = Enum(
    "corral_updated_status",
    "The update engine's status, as update_engine names it (the one set to 1)",
    states=list(STATUSES),
    registry=REGISTRY,
)
VERSIONS = Info(
    "corral_updated_versions",
    "installed: the version running now (booted slot `slot`); staged: the version the"
    " passive slot boots next, empty when none",
    registry=REGISTRY,
)
CHECK_RESULTS = ("none", "up_to_date", "available", "error")
LAST_CHECK_RESULT = Enum(
    "corral_updated_last_check_result",
    "How the last check of the mirror ended: up_to_date, available (a newer release,"
    " verified), error (the mirror unreachable or its documents refused); none before"
    " the first",
    states=list(CHECK_RESULTS),
    registry=REGISTRY,
)
LAST_CHECK = Gauge(
    "corral_updated_last_check_timestamp_seconds",
    "Unix time the last check of the mirror ended (0 before the first)",
    registry=REGISTRY,
)
CHECKS = Counter(
    "corral_updated_checks",
    "Checks of the mirror, by result (up_to_date, available, error)",
    ["result"],
    registry=REGISTRY,
)
DOWNLOAD_BYTES = Counter(
    "corral_updated_download_bytes",
    "Payload bytes read from the mirror (a resumed download counts only what it fetched)",
    registry=REGISTRY,
)
HEALTH_GATES = Counter(
    "corral_updated_health_gates",
    "Health gates run after booting a new release, by result (passed, failed)",
    ["result"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "corral_updated_rollbacks",
    "Releases rolled back (a failed health gate, or a boot that fell back)",
    registry=REGISTRY,
)
REBOOT_LOCK_HELD = Gauge(
    "corral_updated_reboot_lock_held",
    "1 while this machine holds a place in the reboot lock (strategy lock), else 0",
    registry=REGISTRY,
)

for _result in CHECK_RESULTS[1:]:
    CHECKS.labels(_result)  # every result exported from the start, at 0
for _result in ("passed", "failed"):
    HEALTH_GATES.labels(_result)
VERSIONS.info({"installed": "", "slot": "", "staged": ""})


def checked(result: str, at: float) -> None:
    """A check of the mirror ended with `result` at Unix time `at`."""
    CHECKS.labels(result).inc()
    LAST_CHECK_RESULT.state(result)
    LAST_CHECK.set(at)
