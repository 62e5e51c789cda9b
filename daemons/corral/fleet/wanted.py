"""The units one machine's agent must run, kept current event by event (pure, no I/O).

The wanted set is every unit scheduled to this machine plus every global unit whose
`MachineMetadata` this machine matches, with desired state `loaded` or `launched`;
nothing while the machine is drained. Invariant: after `apply()` of each event the
set equals what a full recomputation over the view would give, and the work done is
proportional to the change:
- `units/<name>` or `schedule/<name>` changed: only `<name>` is looked at again;
- this machine's own record changed metadata or drain: every unit is looked at again
  (an operator action on one machine, not part of the steady flow of events);
- other machines' records, states and the engine's lease change nothing here;
- a reset (the watched keys re-read the store) or a directory deleted: full recomputation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from corral.fleet import names
from corral.fleet.convergence import Wanted
from corral.fleet.records import (
    MACHINES,
    SCHEDULE,
    UNITS,
    FleetRecordError,
    MachineRecord,
    ScheduleRecord,
    UnitRecord,
    decode,
    key_name,
)
from corral.fleet.spec import MAX_UNIT_BYTES, SubmitError, UnitSpec, unit_spec
from corral.fleet.watched_keys import CopyChange

log = logging.getLogger(__name__)


class WantedSet:
    """The units this machine must run, updated from the watched keys' events."""

    def __init__(self, record: MachineRecord, max_unit_bytes: int = MAX_UNIT_BYTES) -> None:
        self.record = record
        self.max_unit_bytes = max_unit_bytes  # metadata and drain follow the stored record
        self.key = f"{MACHINES}/{record.id}"
        self.units: dict[str, Wanted] = {}
        self._specs: dict[str, UnitSpec] = {}  # parse cache: name -> spec

    def apply(self, view: Mapping[str, str], event: CopyChange) -> bool:
        """Update after `event` has been applied to `view`; True if the set changed."""
        if event.kind == "reset" or event.key.endswith("/"):
            return self._recompute(view)
        if event.key == self.key:
            return self._own_record(view)
        name = key_name(event.key, UNITS)
        if name is None:
            name = key_name(event.key, SCHEDULE)
        if name is None or "/" in name:
            return False
        if event.kind == "delete" and event.key.startswith(UNITS + "/"):
            self._specs.pop(name, None)
        return self._reconsider(view, name)

    # -- internals ----------------------------------------------------------------

    def _own_record(self, view: Mapping[str, str]) -> bool:
        text = view.get(self.key)
        if text is None:
            return False  # expired: the heartbeat writes it again with the same fields
        try:
            current = decode(MachineRecord, text)
        except FleetRecordError:
            return False
        if (dict(current.metadata), current.drained, current.update_drain) == (
            self.record.metadata,
            self.record.drained,
            self.record.update_drain,
        ):
            return False
        self._follow(current)
        return self._recompute(view)

    def _follow(self, current: MachineRecord) -> None:
        self.record.metadata = dict(current.metadata)
        self.record.drained = bool(current.drained)
        self.record.update_drain = bool(current.update_drain)

    def _recompute(self, view: Mapping[str, str]) -> bool:
        mine = view.get(self.key)
        if mine is not None:
            with contextlib.suppress(FleetRecordError):
                self._follow(decode(MachineRecord, mine))
        before = self.units
        self.units = {}
        for key in view:
            name = key_name(key, UNITS)
            if name is not None:
                self._reconsider(view, name)
        live = {key_name(k, UNITS) for k in view}
        for name in [n for n in self._specs if n not in live]:
            del self._specs[name]
        return self.units != before

    def _reconsider(self, view: Mapping[str, str], name: str) -> bool:
        found = self._compute(view, name)
        if found is None:
            return self.units.pop(name, None) is not None
        if self.units.get(name) == found:
            return False
        self.units[name] = found
        return True

    def _compute(self, view: Mapping[str, str], name: str) -> Wanted | None:
        if self.record.unschedulable or names.is_template(name):
            return None
        value = view.get(f"{UNITS}/{name}")
        if value is None:
            return None
        try:
            unit = decode(UnitRecord, value)
        except FleetRecordError as exc:
            log.debug("agent: ignoring %s: %s", name, exc)
            return None
        if unit.desired not in ("loaded", "launched"):
            return None
        placed = view.get(f"{SCHEDULE}/{name}")
        try:
            here = placed is not None and decode(ScheduleRecord, placed).machine == self.record.id
        except FleetRecordError:
            here = False
        if not here and "Global" not in unit.contents:
            # only a unit whose file names the Global key can be global: every agent
            # skips parsing the units scheduled elsewhere
            return None
        try:
            spec = self._spec(name, unit.contents)
        except SubmitError as exc:
            log.debug("agent: ignoring %s: %s", name, exc)
            return None
        if spec.options.global_:
            if not spec.options.metadata.matches(self.record.metadata):
                return None
        elif not here:
            return None
        me = self.record.id
        return Wanted(spec.hash, unit.contents, unit.desired, unit.restart.get(me, ""))

    def _spec(self, name: str, contents: str) -> UnitSpec:
        spec = self._specs.get(name)
        if spec is None or spec.contents != contents:
            spec = unit_spec(name, contents, self.max_unit_bytes)
            self._specs[name] = spec
        return spec
