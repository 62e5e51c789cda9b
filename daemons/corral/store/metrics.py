"""corral-store's Prometheus metrics, in one registry of their own (served by the
HTTP layer's /metrics, on --listen-metrics-urls, and read directly by tests).

Names: etcd 3.4's where etcd has the same thing (its v2 store's counters, its WAL
fsync histogram, the process metrics), so etcd's dashboards and alerts work; a test
checks every `etcd_*` name, type and label set against a real etcd's /metrics.
Everything else is `corral_store_*`.

Cost: what every request touches is a plain int (the store's stats, the hub's
counts, `REQUESTS`), read when scraped by `StoreCollector`; prometheus_client is
called per commit, per etcd round trip or per refusal, never per read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corral.store.backend import Figures
from corral.store.store import WRITE_STATS

# etcd exports no `<name>_created` series beside its counters and histograms
disable_created_metrics()  # type: ignore[no-untyped-call]  # (untyped in prometheus_client)
REGISTRY = CollectorRegistry()
# process_cpu_seconds_total, process_resident_memory_bytes, ... as etcd exports them
ProcessCollector(registry=REGISTRY)

# etcd's WAL fsync buckets (prometheus.ExponentialBuckets(0.001, 2, 14)): 1 ms to 8 s
ETCD_DISK_BUCKETS = tuple(0.001 * 2**i for i in range(14))
# A fold moves up to two LOG_LIMITs of changes into SQLite: 10 ms to 20 s
FOLD_BUCKETS = tuple(0.01 * 2**i for i in range(12))
# Writes per group commit: 1 to 1024
BATCH_BUCKETS = tuple(float(2**i) for i in range(11))

WAL_FSYNC = Histogram(
    "etcd_disk_wal_fsync_duration_seconds",
    "The latency distributions of fsync called by WAL (the commit log's fdatasync;"
    " embedded backend)",
    buckets=ETCD_DISK_BUCKETS,
    registry=REGISTRY,
)
COMMIT_BATCH = Histogram(
    "corral_store_commit_batch_writes",
    "Writes made durable by one group commit (embedded backend)",
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
FOLD_DURATION = Histogram(
    "corral_store_fold_duration_seconds",
    "Time to fold a full commit log into the SQLite snapshot, sync included (embedded"
    " backend)",
    buckets=FOLD_BUCKETS,
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "corral_store_auth_failures",
    "Requests refused by authentication: reason=credentials (a wrong name or password),"
    " permission (a user or guest without the right)",
    ["reason"],
    registry=REGISTRY,
)

# etcd backend
ETCD_REPLICA_STALENESS = Gauge(
    "corral_store_etcd_replica_staleness_seconds",
    "Seconds since this gateway's replica was last known to hold every v2 write etcd had"
    " (etcd backend; 0 on the embedded backend)",
    registry=REGISTRY,
)
ETCD_REPLICA_LAG = Gauge(
    "corral_store_etcd_replica_lag_revisions",
    "Revisions between the newest v2 write etcd is known to hold and the last one this"
    " gateway's replica applied (etcd backend)",
    registry=REGISTRY,
)
ETCD_STALE_READS_REFUSED = Counter(
    "corral_store_etcd_stale_reads_refused",
    "Reads and watches refused with error 300 because the replica was staler than"
    " --etcd-max-staleness",
    registry=REGISTRY,
)
ETCD_ROUND_TRIPS = Counter(
    "corral_store_etcd_round_trips",
    "Requests sent to etcd members, attempts on another member included, by kind"
    " (range, txn, lease_grant, lease_revoke, watch)",
    ["kind"],
    registry=REGISTRY,
)
ETCD_TXN_RETRIES = Counter(
    "corral_store_etcd_txn_retries",
    "v2 writes planned and sent again after their transaction failed its compares"
    " (a conflicting write) or its outcome was unknown and it had not applied",
    registry=REGISTRY,
)
ETCD_FAILOVERS = Counter(
    "corral_store_etcd_failovers",
    "etcd members left out of the rotation after a failed request (the next goes to"
    " another member)",
    registry=REGISTRY,
)

# methods counted by name; any other token a client sends is counted as "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "CONNECT"})


class RequestCounts:
    """HTTP answers by (method, status): a dict of ints the HTTP layer bumps, read when
    scraped (one prometheus_client call per request measured on the hot path)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def add(self, method: str, status: int) -> None:
        try:  # the common case first: a pair already counted
            self.counts[method, status] += 1
        except KeyError:
            key = (method if method in KNOWN_METHODS else "other", status)
            self.counts[key] = self.counts.get(key, 0) + 1


REQUESTS = RequestCounts()


class StoreCollector(Collector):
    """The v2 store's counters (etcd's names) and corral-store's own figures, read from
    the backend when scraped."""

    def __init__(self, figures: Callable[[], Figures], requests: RequestCounts = REQUESTS):
        self.figures = figures
        self.requests = requests

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        f = self.figures()
        stats = f.stats
        reads = CounterMetricFamily(
            "etcd_debugging_store_reads",
            "Total number of reads action by (get/getRecursive), local to this member.",
            labels=["action"],
        )
        gets = stats["getsSuccess"] + stats["getsFail"]
        reads.add_metric(["get"], gets - f.recursive_gets)
        reads.add_metric(["getRecursive"], f.recursive_gets)
        yield reads
        writes = CounterMetricFamily(
            "etcd_debugging_store_writes",
            "Total number of writes (e.g. set/compareAndDelete) seen by this member.",
            labels=["action"],
        )
        # etcd 3.4 counts failures too but registers no metric for them: ours are corral_
        writes_failed = CounterMetricFamily(
            "corral_store_writes_failed",
            "Writes the v2 store refused (errors 1xx: key not found, compare failed, ...)",
            labels=["action"],
        )
        for action, stat in WRITE_STATS.items():
            writes.add_metric([action], stats[stat + "Success"] + stats[stat + "Fail"])
            writes_failed.add_metric([action], stats[stat + "Fail"])
        yield writes
        yield writes_failed
        yield CounterMetricFamily(
            "corral_store_reads_failed",
            "Reads the v2 store refused (errors 1xx: key not found, not a directory, ...)",
            value=stats["getsFail"],
        )
        yield CounterMetricFamily(
            "etcd_debugging_store_expires", "Total number of expired keys.",
            value=stats["expireCount"],
        )  # fmt: skip
        yield CounterMetricFamily(
            "etcd_debugging_store_watch_requests",
            "Total number of incoming watch requests (new or reestablished).",
            value=f.watch_requests,
        )
        yield GaugeMetricFamily(
            "etcd_debugging_store_watchers", "Count of currently active watchers.",
            value=f.watchers,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "corral_store_stream_watchers",
            "Watchers of stream=true requests now (also in etcd_debugging_store_watchers)",
            value=f.streams,
        )
        yield GaugeMetricFamily(
            "corral_store_keys", "Nodes in the key tree (keys and directories, hidden ones"
            " included)", value=f.keys,
        )  # fmt: skip
        if f.log_bytes is not None:
            yield GaugeMetricFamily(
                "corral_store_log_bytes",
                "Bytes in the commit logs not yet folded into the snapshot (embedded"
                " backend)",
                value=f.log_bytes,
            )
        requests = CounterMetricFamily(
            "corral_store_requests",
            "HTTP requests answered on the client and metrics URLs, by method and status",
            labels=["method", "code"],
        )
        for (method, status), n in sorted(self.requests.counts.items()):
            requests.add_metric([method, str(status)], n)
        yield requests
