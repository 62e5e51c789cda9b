"""Draining this machine through the scheduler before a reboot, and undraining after.

The updater may not write the fleet agent's machine record (that would let its
credential change the machine's metadata, and so what is scheduled on it). It writes its
own request, `drain/<id>`, and the agent of the same machine copies it into its record
(`update_drain`); the engine then moves the units away. `units_here` says which
non-global units are still scheduled or running here; global units run everywhere and
cannot move, so they are not waited for.
"""

from __future__ import annotations

import contextlib

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.fleet.records import MACHINES
from corral.updated.records import DRAIN

_RUNNING = ("active", "activating", "deactivating", "reloading")


def set_drained(client: Client, machine_id: str, drained: bool) -> bool:
    """Ask for the drain (or end it); False when the machine runs no scheduler agent
    (nothing to drain)."""
    key = f"{DRAIN}/{machine_id}"
    if not drained:
        with contextlib.suppress(KeyNotFound):
            client.delete(key)
        return True
    try:
        client.get(f"{MACHINES}/{machine_id}")
    except KeyNotFound:
        return False
    client.set(key, "reboot")
    return True


def units_here(client: Client, machine_id: str) -> list[str]:
    cluster = Cluster.read(client)
    here = {name for name, mid in cluster.schedule.items() if mid == machine_id}
    for name, by_machine in cluster.states.items():
        state = by_machine.get(machine_id)
        if name in cluster.schedule and state is not None and state.active in _RUNNING:
            here.add(name)
    return sorted(here)
