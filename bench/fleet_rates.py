"""The daemons' periods the fleet simulator reproduces and the fleet phase judges by
(a module of its own: the simulator runs as `-m bench.phases.fleet_sim`, which the
phase must not import)."""

from __future__ import annotations

UPDATED_ALIVE_TTL = 300  # corral-updated's --alive-ttl default (5 min)


def heartbeat_rate(ttl: int) -> float:
    """Heartbeats per machine per second: the agent's record (TTL `ttl`) and
    corral-updated's alive key, each refreshed at a third of its TTL."""
    return 3 / ttl + 3 / UPDATED_ALIVE_TTL
