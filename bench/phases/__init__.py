"""Every benchmark phase, in the order `make bench` runs them.

A later component adds its phase by writing a module with functions `(Bench) -> list[Row]`
and listing them here under a short name (`--only NAME` runs just those).
"""

from __future__ import annotations

from bench.context import Phase
from bench.phases import fleet, footprint, gateway, lookup, mirror, throughput, watch

PHASES: dict[str, Phase] = {
    "put": throughput.put,
    "get": throughput.get,
    "mixed": throughput.mixed,
    "latency": throughput.latency,
    "watch": watch.fanout,
    "memory": footprint.memory,
    "restart": footprint.restart,
    "gateway": gateway.both,
    "fleet-failover": fleet.failover,
    "fleet-scale": fleet.scale,
    "mirror-sync": mirror.sync,
    "mirror-verify": mirror.verify,
    "lookup": lookup.render,
}
