"""corral-store's Prometheus metrics, in one registry of their own (served by the
HTTP layer's /metrics, and read directly by tests).

Metrics that must be computed when scraped (a staleness that grows while nothing
happens) are gauges whose function the backend sets when it starts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector

REGISTRY = CollectorRegistry()
# process_cpu_seconds_total, process_resident_memory_bytes, ... as etcd exports them
ProcessCollector(registry=REGISTRY)

ETCD_REPLICA_STALENESS = Gauge(
    "corral_store_etcd_replica_staleness_seconds",
    "Seconds since this gateway's replica was last known to hold every v2 write etcd had"
    " (etcd backend; 0 on the embedded backend)",
    registry=REGISTRY,
)
ETCD_STALE_READS_REFUSED = Counter(
    "corral_store_etcd_stale_reads_refused",
    "Reads and watches refused with error 300 because the replica was staler than"
    " --etcd-max-staleness",
    registry=REGISTRY,
)
