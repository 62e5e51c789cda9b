"""Draining this machine through the scheduler before a reboot, and undraining after.

Drain sets `drained` on the machine's fleet record (compare-and-swap, keeping the
record's TTL, as `corralctl machine drain` does); the engine then moves the units
away. `units_here` says which non-global units are still scheduled or running here;
global units run everywhere and cannot move, so they are not waited for.
"""

from __future__ import annotations

from corral.client import KEY_NOT_FOUND, TEST_FAILED, Client, EtcdError
from corral.fleet.cluster import Cluster
from corral.fleet.records import MACHINES, MachineRecord, RecordError, decode, encode

_RUNNING = ("active", "activating", "deactivating", "reloading")


def set_drained(client: Client, machine_id: str, drained: bool) -> bool:
    """Set the flag; False when the machine runs no scheduler agent (nothing to drain)."""
    key = f"{MACHINES}/{machine_id}"
    for _ in range(20):
        try:
            node = client.get(key).node
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return False
            raise
        try:
            record = decode(MachineRecord, node.value)
        except RecordError:
            return False
        if record.drained == drained:
            return True
        record.drained = drained
        try:
            client.set(key, encode(record), ttl=node.ttl or None, prev_index=node.modified_index)
            return True
        except EtcdError as exc:
            if exc.error_code not in (KEY_NOT_FOUND, TEST_FAILED):
                raise
    return False


def units_here(client: Client, machine_id: str) -> list[str]:
    cluster = Cluster.read(client)
    here = {name for name, mid in cluster.schedule.items() if mid == machine_id}
    for name, by_machine in cluster.states.items():
        state = by_machine.get(machine_id)
        if name in cluster.schedule and state is not None and state.active in _RUNNING:
            here.add(name)
    return sorted(here)
