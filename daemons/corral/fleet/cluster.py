"""A one-shot read of the scheduler's records, for corralctl (one GET of /_corral).

States of machines whose record has expired are dropped here: a dead machine cannot
report that its units stopped, so its last report is not shown as current. `states`
is indexed unit first (what corralctl asks), although the store keeps it machine first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.fleet.records import (
    ROOT,
    SCHEDULE,
    UNITS,
    FleetRecordError,
    MachineRecord,
    ScheduleRecord,
    StateRecord,
    UnitRecord,
    decode,
    key_name,
    machine_key_id,
    machine_record,
    state_key_parts,
)


@dataclass
class Cluster:
    """Every scheduler record of the store at one index, as corralctl lists them."""
    machines: dict[str, MachineRecord] = field(default_factory=dict)
    units: dict[str, UnitRecord] = field(default_factory=dict)
    schedule: dict[str, str] = field(default_factory=dict)  # unit -> machine
    unplaced: dict[str, str] = field(default_factory=dict)  # unit -> why it has no machine
    states: dict[str, dict[str, StateRecord]] = field(default_factory=dict)  # unit -> machine
    index: int = 0
    # machine records left out (unreadable, or claiming another machine's id), one
    # sentence each, for listings to warn about
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, client: Client) -> Cluster:
        try:
            result = client.get(ROOT, recursive=True)
        except KeyNotFound as exc:
            return cls(index=exc.index)
        return cls.from_values(
            {n.key: n.value or "" for n in result.node.walk() if not n.dir},
            result.etcd_index or 0,
        )

    @classmethod
    def from_values(cls, values: dict[str, str], index: int = 0) -> Cluster:
        c = cls(index=index)
        states: list[tuple[str, str, str]] = []  # kept once the live machines are known
        for key, value in values.items():
            try:
                state = c._add_record(key, value)
            except FleetRecordError:
                continue  # a corrupt record is shown as absent rather than crash a listing
            if state is not None:
                states.append(state)
        for unit, mid, value in states:
            if mid in c.machines:
                try:
                    c.states.setdefault(unit, {})[mid] = decode(StateRecord, value)
                except FleetRecordError:
                    continue
        return c

    def _add_record(self, key: str, value: str) -> tuple[str, str, str] | None:
        """File the record stored at `key`; a unit's state is returned as (unit, machine,
        value) instead."""
        if (mid := machine_key_id(key)) is not None:
            try:
                self.machines[mid] = machine_record(mid, value)
            except FleetRecordError as exc:
                self.problems.append(f"left out: {exc}")
        elif (name := key_name(key, UNITS)) is not None:
            self.units[name] = decode(UnitRecord, value)
        elif (name := key_name(key, SCHEDULE)) is not None:
            placed = decode(ScheduleRecord, value)
            if placed.machine:
                self.schedule[name] = placed.machine
            elif placed.reason:
                self.unplaced[name] = placed.reason
        elif (parts := state_key_parts(key)) is not None:
            mid, unit = parts
            return unit, mid, value
        return None

    def machine_label(self, mid: str | None, full: bool) -> str:
        if not mid:
            return "-"
        m = self.machines.get(mid)
        ident = mid if full else mid[:8]
        return f"{ident}/{m.ip}" if m and m.ip else ident

    def current(self, unit: str) -> str:
        """fleet's STATE column: launched, loaded or inactive."""
        states = self.states.get(unit, {})
        if any(s.active in ("active", "activating", "deactivating") for s in states.values()):
            return "launched"
        if states:
            return "loaded"
        return "inactive"
