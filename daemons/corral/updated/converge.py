"""Where a machine stands, read from its slots (pure, no I/O).

The engine derives everything it acts on from the A/B slot state on every pass, never
only from its memory of what it did: a reboot by hand, a power loss at any step or a
lost state file then still lead to the right next step. Its memory (`written`: the
release it last wrote into a slot) only names the release id of a slot whose slot
and version it matches.

| the slots say                                   | the engine                          |
|-------------------------------------------------|-------------------------------------|
| booted slot on trial                            | runs the health gate                |
| booted slot marked bad (priority 0)             | reboots back to the other slot      |
| passive slot staged, release remembered         | reboots into it when policy allows  |
| passive slot staged, release not remembered     | invalidates it; the next check      |
|                                                 | installs the release again          |
| passive slot spent its try, never marked good   | records the release bad, marks the  |
|                                                 | slot bad (the boot loader fell back)|
| anything else                                   | checks the mirror at its interval   |
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.updated.local_state import Staged
from corral.updated.slots import BootState, SlotState


@dataclass(frozen=True)
class Situation:
    """Where the machine stands, as read from its slots and matched to what it wrote."""
    booted: str
    running: SlotState
    release: Staged | None  # what runs on the booted slot, when this daemon wrote it
    staged: Staged | None  # the passive slot boots next, written by this daemon
    stray: bool  # the passive slot is staged with a release this daemon does not know
    fell_back: Staged | None  # the passive slot spent its try without being marked good

    @property
    def gate_due(self) -> bool:
        return self.running.on_trial and self.running.priority > 0

    @property
    def on_bad_slot(self) -> bool:
        """Running a slot already marked bad: the reboot back did not happen yet."""
        return self.running.priority == 0


def _known(written: Staged | None, slot: str, version: str) -> Staged | None:
    if written is not None and (written.slot, written.version) == (slot, version):
        return written
    return None


def assess(state: BootState, written: Staged | None) -> Situation:
    booted, passive = state.booted, state.passive
    running, other = state.slot(booted), state.slot(passive)
    staged = stray = False
    fell_back = None
    if other.on_trial and other.priority > 0:
        if other.tries > 0 and other.priority > running.priority:
            staged = True
            stray = _known(written, passive, other.version) is None
        elif other.tries == 0:
            fell_back = (_known(written, passive, other.version)
                         or Staged(passive, other.version, ""))  # fmt: skip
    return Situation(
        booted=booted,
        running=running,
        release=_known(written, booted, running.version),
        staged=_known(written, passive, other.version) if staged and not stray else None,
        stray=stray,
        fell_back=fell_back,
    )
