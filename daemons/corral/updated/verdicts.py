"""What the fleet concludes from the machines' reports (pure, no I/O).

Each machine writes only its own verdicts (`reports/<id>/<release_id>`), so no single
machine's credential can speak for the fleet:
- A release is bad while any machine reported it `failed`. A compromised machine can
  thus only halt a rollout (the safe direction); `corralctl update status` names it.
- A release is proven only by a canary's `proven` report, and which machines are
  canaries is not up to them. With canaries named by an operator (`canaries/<id>`),
  those install first and only their reports prove. With none named, the canary is the
  machine with the lowest id among those that run corral-updated on the same channel,
  heartbeat and are not held (the waiting machine counts itself); proofs count from it
  and from machines whose ids sort before it (they were the canary while they ran). So a
  machine becomes the canary only by its place in the id order, never by claiming.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from corral.updated.records import FAILED, PROVEN, Verdict

Reports = Mapping[str, Mapping[str, Verdict]]  # machine -> release_id -> its verdict


@dataclass(frozen=True)
class Candidate:
    """A machine as the canary choice sees it: from its status and heartbeat, and the
    operators' holds."""

    machine: str
    alive: bool
    channel: str
    held: bool


def failures(reports: Reports, release_id: str) -> list[Verdict]:
    """The machines' `failed` reports of a release, by machine id."""
    return [by_release[release_id] for _, by_release in sorted(reports.items())
            if (v := by_release.get(release_id)) is not None and v.verdict == FAILED]  # fmt: skip


def canary(me: str, channel: str, named: Iterable[str], machines: Iterable[Candidate]) -> str:
    """The canary that `me` (following `channel`) waits for; `me` itself when it is one.
    Among named canaries, the first that heartbeats (or the first at all)."""
    named = sorted(set(named))
    if named:
        if me in named:
            return me
        alive = {m.machine for m in machines if m.alive}
        return next((n for n in named if n in alive), named[0])
    eligible = {m.machine for m in machines
                if m.alive and m.channel == channel and not m.held}  # fmt: skip
    return min(eligible | {me})


def proven_by(reports: Reports, release_id: str, named: Iterable[str], chosen: str) -> str | None:
    """The machine whose `proven` report lets the others install, or None. `chosen` is
    what `canary` returned."""
    named = set(named)
    provers = sorted(m for m, by_release in reports.items()
                     if (v := by_release.get(release_id)) is not None
                     and v.verdict == PROVEN)  # fmt: skip
    for m in provers:
        if (m in named) if named else m <= chosen:
            return m
    return None
