"""Every target `make bench` judges, in one table, each with the line it comes from.

Phases take their targets from here by name and nowhere else: when an issue or the
docs move a target, it changes here, once. `python -m bench.targets` prints the whole
table (name, bound, source) for a reader to check against its sources.

"ratio" targets judge ours / reference (etcd 3.4, or curl / sha256sum / etcd's own v2
for the phases that say so); "value" targets judge our figure alone.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from bench.report import Target

STORE_ISSUE = "corral-store issue (etcd v2 compatible store), bench/README.md"

TARGETS: dict[str, Target] = {
    "put": Target(
        1.0, source=f"{STORE_ISSUE}: PUT at 32 clients at least etcd 3.4's v2 PUT (fsync on)"
    ),
    "get": Target(1.0, source=f"{STORE_ISSUE}: GET at 32 clients at least etcd 3.4's v2 GET"),
    "mixed": Target(
        1.0, source=f"{STORE_ISSUE}: 90% GET / 10% PUT at 32 clients at least etcd 3.4's"
    ),
    "latency": Target(
        1.25,
        "lower",
        source=f"{STORE_ISSUE}: one client's PUT p50 at most 1.25 x etcd 3.4's",
    ),
    "watch": Target(
        1.0,
        "lower",
        source=f"{STORE_ISSUE}: 100 watchers all notified, p99 no later than etcd 3.4's",
    ),
    "memory": Target(
        1.5,
        "lower",
        source=f"{STORE_ISSUE}: RSS holding 100k keys of 256 B at most 1.5 x etcd 3.4's",
    ),
    "restart": Target(
        1.0,
        "lower",
        source=f"{STORE_ISSUE}: restart to serving with 1M keys no slower than etcd 3.4",
    ),
    "gateway-put": Target(
        1.0,
        source="HA writes issue (Store on etcd v3: writes as fast as etcd's own v2 API): "
        "gateway PUT >= 1.0 of the same cluster's v2 PUT, 32 concurrent, 3 members",
    ),
    "gateway-get": Target(
        1.0,
        source="HA writes issue: gateway GET >= 1.0 of the same cluster's v2 GET, 32 concurrent",
    ),
    "gateway-latency": Target(
        1.5,
        "lower",
        source="HA writes issue: gateway single-client PUT p50 at most 1.5 x the cluster's own "
        "v2 PUT p50",
    ),
    "gateway-watch-lag": Target(
        1000.0,
        "lower",
        "value",
        source="docs/store.md, corral-store on etcd v3: another gateway's write shows 'within the "
        "watch's lag, milliseconds' (under a second); p99 from one gateway's ack to another's "
        "watch event",
    ),
    "gateway-failover": Target(
        3.0,
        "lower",
        "value",
        source="docs/store.md, corral-store on etcd v3: 'writes resume within 3 s of the leader's "
        "SIGKILL' (first write sent after the kill)",
    ),
    "fleet-failover": Target(
        1.0,
        "lower",
        "value",
        source="fleet issue, bench/README.md fleet-failover: unit active elsewhere within "
        "agent TTL + 1 s of its machine's death (the bound here is the margin over the TTL)",
    ),
    "fleet-scale": Target(
        30.0,
        "lower",
        "value",
        source="fleet issue, bench/README.md fleet-scale: 10,000 units on 1,000 machines "
        "all placed within 30 s",
    ),
    "fleet-idle": Target(
        0.0,
        "lower",
        "value",
        source="HA issue (Store on etcd v3, a 1,000-machine fleet on it): an idle fleet "
        "(agents + update engines, nothing changing) costs the store heartbeats only; the "
        "bound is the margin over the machines' heartbeat rate (requests per machine per "
        "second, 3/TTL of each heartbeat)",
    ),
    "mirror-sync": Target(
        0.8, source="mirror issue, bench/README.md: corral-mirror sync >= 0.8 of curl's MiB/s"
    ),
    "mirror-verify": Target(
        1.2,
        "lower",
        source="mirror issue, bench/README.md: payload check <= 1.2 x sha256sum's time",
    ),
    "lookup": Target(
        1.0,
        "lower",
        source="collection issue (kv lookup): a template of 1,000 corral.cloud.kv lookups "
        "renders no slower than community.general.etcd's against etcd 3.4",
    ),
}


def target(name: str) -> Target:
    """The target named `name`; a KeyError names a target missing from the table."""
    return TARGETS[name]


def beyond(name: str, base: float) -> Target:
    """A target whose table bound is a margin over a run's own parameter (fleet
    failover: the agent TTL, + 1 s; an idle fleet: its heartbeat rate, + 0): the bound
    is `base` plus the table's."""
    t = TARGETS[name]
    return replace(t, bound=base + t.bound)


def table() -> str:
    lines = ["| target | bound | source |", "| --- | --- | --- |"]
    lines += [f"| {name} | {t} | {t.source} |" for name, t in TARGETS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
    sys.exit(0)
