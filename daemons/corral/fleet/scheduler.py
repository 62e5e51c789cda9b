"""The engine's placement core: pure state and decisions, no I/O, no clock.

The engine feeds events in (machines coming, changing and going, units submitted or
removed, failures reported) and asks `decide()` for placement changes, which it then
writes to the store. Invariants:
- A non-global unit whose desired state is not `inactive` is placed on at most one
  machine, and only on one satisfying every constraint at the time it was placed.
- Placement is least-loaded (fewest units placed) among eligible machines.
- No event triggers a rescan of every unit or machine. Work is proportional to what
  changed, through these indexes:
  * `_on_machine[m]`: the units placed on m (machine loss re-places exactly those);
  * `_buckets[n]`: the machines carrying n units, so an unconstrained unit takes the
    first eligible machine of the lowest non-empty bucket instead of scanning 1,000;
  * `_by_meta[(k, v)]`: machines by metadata pair, so `MachineMetadata=k=v` narrows the
    candidates by set intersection;
  * `_followers[t]`: units with MachineOf=t, re-placed when t moves;
  * `_blocked`: units with no eligible machine, retried only when a machine appears
    or changes (not on every event).
- Global units are not placed here: each agent runs those its machine matches.
- A unit that wants a machine and has none has a reason (`reasons`, from `_why_not`:
  no machine up, none with its MachineID, none matching its metadata, all drained or
  in conflict, or the engine refused its record); `decide()` returns a change when the
  reason changes, for the engine to store where the placement would be.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from corral.fleet.metadata import Requirement
from corral.fleet.spec import UnitSpec

DESIRED_STATES = ("inactive", "loaded", "launched")
SMALL = 64  # candidate sets up to this size are sorted; larger ones are walked by load


@dataclass(frozen=True)
class Machine:
    """A machine as placement sees it: id, metadata, and whether it takes no units."""
    id: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    drained: bool = False


@dataclass(frozen=True)
class Change:
    """Move `unit` from `old` to `new` machine (None: not placed); when not placed,
    `old_reason`/`reason` say why (before and after)."""

    unit: str
    old: str | None
    new: str | None
    old_reason: str = ""
    reason: str = ""


class Scheduler:
    """Placement state, updated event by event; `decide()` returns what changed."""

    def __init__(self, max_failures: int = 3) -> None:
        self.max_failures = max_failures
        self.machines: dict[str, Machine] = {}
        self.units: dict[str, UnitSpec] = {}
        self.desired: dict[str, str] = {}
        self.placement: dict[str, str] = {}
        self.avoid: dict[str, set[str]] = {}  # unit -> machines it failed on too often
        self._on_machine: dict[str, set[str]] = {}
        self._load: dict[str, int] = {}
        self._buckets: dict[int, set[str]] = {}
        self._by_meta: dict[tuple[str, str], set[str]] = {}
        self._followers: dict[str, set[str]] = {}
        self._pending: dict[str, None] = {}  # ordered set: units to (re)place
        self._blocked: set[str] = set()
        self._changes: list[Change] = []
        self._reported: dict[str, str | None] = {}  # unit -> placement last returned
        self.reasons: dict[str, str] = {}  # unit -> why it is not placed
        self._reported_reason: dict[str, str] = {}  # unit -> reason last returned

    # -- machines -----------------------------------------------------------------

    def machine_up(self, machine: Machine) -> None:
        """A machine appeared or its metadata/drain changed."""
        old = self.machines.get(machine.id)
        if old is not None:
            for pair in old.metadata.items():
                self._by_meta.get(pair, set()).discard(machine.id)
        else:
            self._on_machine[machine.id] = set()
            self._set_load(machine.id, 0)
        self.machines[machine.id] = machine
        for pair in machine.metadata.items():
            self._by_meta.setdefault(pair, set()).add(machine.id)
        if old is not None and old != machine:
            # units that may no longer fit (drain, metadata) are re-checked
            for unit in list(self._on_machine[machine.id]):
                if not self._eligible(self.units[unit], machine.id, ignore=unit):
                    self._unplace(unit)
        self._retry_blocked()

    def machine_down(self, machine_id: str) -> None:
        """The machine's record expired or was removed: move its units."""
        machine = self.machines.pop(machine_id, None)
        if machine is None:
            return
        for pair in machine.metadata.items():
            self._by_meta.get(pair, set()).discard(machine_id)
        for unit in list(self._on_machine.get(machine_id, ())):
            self._unplace(unit)
        self._on_machine.pop(machine_id, None)
        self._buckets.get(self._load.pop(machine_id, 0), set()).discard(machine_id)

    # -- units --------------------------------------------------------------------

    def unit_set(self, spec: UnitSpec, desired: str) -> None:
        """A unit was submitted, or its desired state or contents changed."""
        if desired not in DESIRED_STATES:
            raise ValueError(f"desired state {desired!r} not in {DESIRED_STATES}")
        old = self.units.get(spec.name)
        if old is not None:
            self._unfollow(old)
        self.units[spec.name] = spec
        self.desired[spec.name] = desired
        for target in spec.options.machine_of:
            self._followers.setdefault(target, set()).add(spec.name)
        placed = self.placement.get(spec.name)
        self._set_reason(spec.name, "")
        if spec.options.global_ or desired == "inactive":
            if placed is not None:
                self._unplace(spec.name, requeue=False)
            self._blocked.discard(spec.name)
            self._pending.pop(spec.name, None)
            return
        if placed is None:
            self._pending[spec.name] = None
        elif (
            old is not None
            and old.options != spec.options
            and not self._eligible(spec, placed, ignore=spec.name)
        ):
            self._unplace(spec.name)

    def unit_refused(self, name: str, reason: str) -> None:
        """The unit's record cannot be used (bad name, bad file): not placed, and
        why is reported."""
        self.unit_removed(name)
        self._set_reason(name, f"refused: {reason}")

    def unit_removed(self, name: str) -> None:
        self._set_reason(name, "")
        spec = self.units.pop(name, None)
        self.desired.pop(name, None)
        self.avoid.pop(name, None)
        if spec is not None:
            self._unfollow(spec)
        if name in self.placement:
            self._unplace(name, requeue=False)
        self._pending.pop(name, None)
        self._blocked.discard(name)

    def placed(self, name: str, machine_id: str | None, reason: str = "") -> None:
        """Adopt a placement read from the store (at start, or written by another),
        or the reason stored for its absence. A placement that no longer fits is
        queued for re-placement."""
        self._reported_reason[name] = "" if machine_id is not None else reason
        if reason and not self._wants_place(name):
            # left for a unit destroyed or stopped while no engine ran: _net drops it
            # (a refused unit keeps it: its reason is in `reasons`)
            self._changes.append(Change(name, None, None))
        if self.placement.get(name) == machine_id:
            return
        if name in self.placement:
            self._unplace(name, requeue=False)
        spec = self.units.get(name)
        if machine_id is None or spec is None:
            self._reported[name] = machine_id
            if spec is not None and self._wants_place(name):
                self._pending[name] = None
            return
        if machine_id in self.machines and self._eligible(spec, machine_id, ignore=name):
            self._place(name, machine_id)
            self._reported[name] = machine_id
            self._pending.pop(name, None)
            self._blocked.discard(name)
        else:
            self._reported[name] = machine_id
            self._changes.append(Change(name, machine_id, None))
            self._pending[name] = None

    def failed(self, name: str, machine_id: str, failures: int) -> None:
        """The agent of `machine_id` reports `failures` failed runs of `name` there.
        At `max_failures` on a machine that is still alive, try another machine."""
        if self.placement.get(name) != machine_id or failures < self.max_failures:
            return
        avoid = self.avoid.setdefault(name, set())
        if machine_id in avoid:
            return
        avoid.add(machine_id)
        if self._choose(self.units[name], strict=True) is None:
            avoid.discard(machine_id)  # nowhere better: keep it where it is
            return
        self._unplace(name)

    # -- decisions ----------------------------------------------------------------

    def decide(self) -> list[Change]:
        """Place every pending unit that can be placed; return the net changes since
        the last call (a unit moved twice is one change)."""
        while self._pending:
            name = next(iter(self._pending))
            del self._pending[name]
            if not self._wants_place(name) or name in self.placement:
                continue
            target = self._choose(self.units[name])
            if target is None:
                self._blocked.add(name)
                self._set_reason(name, self._why_not(self.units[name]))
                continue
            self._blocked.discard(name)
            self._set_reason(name, "")
            self._place(name, target)
            for victim in self._replaced_on(name, target):
                self._unplace(victim)
        out: list[Change] = []
        for name, now, reason in self._net():
            old_reason = self._reported_reason.get(name, "")
            out.append(Change(name, self._reported.get(name), now, old_reason, reason))
            self._reported[name] = now
            self._reported_reason[name] = reason
        return out

    def load(self, machine_id: str) -> int:
        return self._load.get(machine_id, 0)

    def blocked(self) -> set[str]:
        return set(self._blocked)

    # -- internals ----------------------------------------------------------------

    def _net(self) -> Iterator[tuple[str, str | None, str]]:
        seen: dict[str, None] = {}
        for c in self._changes:
            seen[c.unit] = None
        self._changes.clear()
        for name in seen:
            now = self.placement.get(name)
            reason = "" if now is not None else self.reasons.get(name, "")
            if (self._reported.get(name), self._reported_reason.get(name, "")) != (now, reason):
                yield name, now, reason

    def _set_reason(self, name: str, reason: str) -> None:
        if self.reasons.get(name, "") == reason:
            return
        if reason:
            self.reasons[name] = reason
        else:
            del self.reasons[name]
        self._changes.append(Change(name, None, None))  # looked at again by _net

    def _why_not(self, spec: UnitSpec) -> str:
        """Why no machine takes `spec` (called only when none does): the first
        constraint that leaves no machine, cheap checks first."""
        o = spec.options
        if not self.machines:
            return "no machine is up"
        if o.machine_id is not None:
            m = self.machines.get(o.machine_id)
            if m is None:
                return f"no machine has MachineID={o.machine_id}"
            pool = [m]
        elif o.machine_of:
            where = {self.placement.get(t) for t in o.machine_of}
            if None in where:
                waiting = [t for t in o.machine_of if t not in self.placement]
                return f"MachineOf={waiting[0]}: {waiting[0]} is not placed"
            if len(where) > 1:
                return "the units of MachineOf= run on different machines"
            pool = [self.machines[m] for m in where if m in self.machines]
        else:
            narrowed = self._candidates(spec)
            ids = self.machines if narrowed is None else narrowed
            pool = [self.machines[m] for m in ids if m in self.machines]
        pool = [m for m in pool if o.metadata.matches(m.metadata)]
        if not pool:
            return f"no machine matches MachineMetadata={_describe(o.metadata)}"
        pool = [m for m in pool if not m.drained]
        if not pool:
            return "every machine it may run on is drained"
        return "every machine it may run on has a unit it conflicts with (Conflicts=, Replaces=)"

    def _wants_place(self, name: str) -> bool:
        spec = self.units.get(name)
        return (
            spec is not None
            and not spec.options.global_
            and self.desired.get(name, "inactive") != "inactive"
        )

    def _set_load(self, machine_id: str, load: int) -> None:
        old = self._load.get(machine_id)
        if old is not None:
            bucket = self._buckets.get(old)
            if bucket is not None:
                bucket.discard(machine_id)
                if not bucket:
                    del self._buckets[old]
        self._load[machine_id] = load
        self._buckets.setdefault(load, set()).add(machine_id)

    def _place(self, name: str, machine_id: str) -> None:
        self.reasons.pop(name, None)
        self.placement[name] = machine_id
        self._on_machine[machine_id].add(name)
        self._set_load(machine_id, self._load[machine_id] + 1)
        self._changes.append(Change(name, None, machine_id))
        for follower in self._followers.get(name, ()):
            if follower not in self.placement and self._wants_place(follower):
                self._pending[follower] = None

    def _unplace(self, name: str, requeue: bool = True) -> None:
        if not requeue:
            self._set_reason(name, "")
        machine_id = self.placement.pop(name, None)
        if machine_id is not None:
            self._on_machine.get(machine_id, set()).discard(name)
            if machine_id in self._load:
                self._set_load(machine_id, self._load[machine_id] - 1)
            self._changes.append(Change(name, machine_id, None))
            # followers must move with their target
            for follower in self._followers.get(name, ()):
                if self.placement.get(follower) == machine_id:
                    self._unplace(follower)
        if requeue and self._wants_place(name):
            self._pending[name] = None

    def _unfollow(self, spec: UnitSpec) -> None:
        for target in spec.options.machine_of:
            followers = self._followers.get(target)
            if followers is not None:
                followers.discard(spec.name)
                if not followers:
                    del self._followers[target]

    def _retry_blocked(self) -> None:
        for name in self._blocked:
            self._pending[name] = None
        self._blocked.clear()

    def _candidates(self, spec: UnitSpec) -> Collection[str] | None:
        """A narrowed candidate set, or None when only a walk of the load buckets will
        do (no pinning or metadata equality to narrow by)."""
        o = spec.options
        if o.machine_id is not None:
            return [o.machine_id] if o.machine_id in self.machines else []
        if o.machine_of:
            where = self.placement.get(o.machine_of[0])
            return [where] if where is not None else []
        if o.metadata.equal:
            found: set[str] | None = None
            for key, values in o.metadata.equal.items():
                union: set[str] = set()
                for v in values:
                    union |= self._by_meta.get((key, v), set())
                found = union if found is None else found & union
                if not found:
                    return []
            return found or []
        return None

    def _choose(self, spec: UnitSpec, strict: bool = False) -> str | None:
        """The least-loaded eligible machine. Machines the unit failed on are a last
        resort, unless `strict`."""
        found = self._least_loaded(spec, use_avoid=True)
        if found is None and not strict and self.avoid.get(spec.name):
            found = self._least_loaded(spec, use_avoid=False)
        return found

    def _least_loaded(self, spec: UnitSpec, use_avoid: bool) -> str | None:
        narrowed = self._candidates(spec)
        if narrowed is not None and len(narrowed) <= SMALL:
            ordered = sorted(narrowed, key=lambda m: (self._load.get(m, 0), m))
            for m in ordered:
                if self._eligible(spec, m, use_avoid=use_avoid):
                    return m
            return None
        # many candidates (e.g. MachineMetadata=region=eu on 1,000 machines): walk the
        # load buckets from the lowest instead of sorting every candidate per unit
        among = None if narrowed is None else set(narrowed)
        for load in sorted(self._buckets):
            bucket = self._buckets[load]
            if among is not None:
                bucket = bucket & among
            # ties broken by id for stable results, except in big buckets where
            # sorting would cost more than the placement itself
            for m in sorted(bucket) if len(bucket) <= SMALL else bucket:
                if self._eligible(spec, m, use_avoid=use_avoid):
                    return m
        return None

    def _eligible(
        self, spec: UnitSpec, machine_id: str, ignore: str | None = None, use_avoid: bool = True
    ) -> bool:
        machine = self.machines.get(machine_id)
        if machine is None or machine.drained:
            return False
        if use_avoid and machine_id in self.avoid.get(spec.name, ()):
            return False
        o = spec.options
        if o.machine_id is not None and o.machine_id != machine_id:
            return False
        if not o.metadata.matches(machine.metadata):
            return False
        for target in o.machine_of:
            if self.placement.get(target) != machine_id:
                return False
        for other in self._on_machine.get(machine_id, ()):
            if other == ignore or other == spec.name:
                continue
            theirs = self.units[other].options
            if any(fnmatch.fnmatchcase(other, p) for p in o.conflicts):
                return False
            if any(fnmatch.fnmatchcase(spec.name, p) for p in theirs.conflicts):
                return False
            if spec.name in theirs.replaces:
                return False  # a unit that replaces this one holds the machine
        return True

    def _replaced_on(self, name: str, machine_id: str) -> list[str]:
        replaces = self.units[name].options.replaces
        if not replaces:
            return []
        return [u for u in self._on_machine.get(machine_id, ()) if u in replaces]


def _describe(req: Requirement) -> str:
    terms = [f"{k}={'|'.join(sorted(v))}" for k, v in sorted(req.equal.items())]
    return " ".join(terms + [str(t) for t in req.others])
