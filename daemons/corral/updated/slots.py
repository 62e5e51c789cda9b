"""A/B slots with boot counting: the pure rules, and the interface of the backends.

A slot has a priority (0 = never boot), tries left and a successful flag, as in
ChromeOS and GRUB A/B schemes. The boot loader (`choose_boot`) boots the bootable slot
with the highest priority, and a slot on trial (not successful) spends one try each
time it is booted. So a staged slot (priority above the current one, one try) boots
once; unless it is marked good in that boot, the next boot falls back to the previous
slot and the spent slot is never chosen again.

Backends (`SlotBackend`) only persist a BootState and write payloads; every rule is
here, so the directory backend, the GRUB backend and the tests share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

SLOT_NAMES = ("a", "b")


class SlotError(Exception):
    """The slots cannot do what was asked (no bootable slot, unreadable state...)."""


@dataclass(frozen=True)
class SlotState:
    """One slot's boot counting: priority, tries left, marked good, version."""
    priority: int = 0
    tries: int = 0
    successful: bool = False
    version: str = ""

    @property
    def bootable(self) -> bool:
        return self.priority > 0 and (self.successful or self.tries > 0)

    @property
    def on_trial(self) -> bool:
        return not self.successful


@dataclass(frozen=True)
class BootState:
    """Both slots and which one is booted."""
    booted: str
    slots: dict[str, SlotState] = field(default_factory=dict)

    def slot(self, name: str) -> SlotState:
        return self.slots.get(name, SlotState())

    @property
    def passive(self) -> str:
        return next(n for n in SLOT_NAMES if n != self.booted)

    def with_slot(self, name: str, state: SlotState) -> BootState:
        return replace(self, slots={**self.slots, name: state})


def initial_state(version: str) -> BootState:
    """A host installed on slot a, known good; b empty."""
    return BootState("a", {"a": SlotState(1, 0, True, version), "b": SlotState()})


def choose_boot(state: BootState) -> BootState:
    """What the boot loader does: pick a slot and spend a try if it is on trial."""
    bootable = [n for n in SLOT_NAMES if state.slot(n).bootable]
    if not bootable:
        raise SlotError("no bootable slot: every slot has priority 0 or no tries left")
    name = max(bootable, key=lambda n: (state.slot(n).priority, n == state.booted))
    chosen = state.slot(name)
    if chosen.on_trial:
        chosen = replace(chosen, tries=chosen.tries - 1)
    return replace(state.with_slot(name, chosen), booted=name)


def invalidate(state: BootState, name: str) -> BootState:
    """Before a slot is written: never boot it half-written."""
    return state.with_slot(name, SlotState(0, 0, False, ""))


def stage(state: BootState, name: str, version: str, tries: int = 1) -> BootState:
    """`name` holds `version` and boots next, on trial with `tries` tries."""
    top = max((s.priority for n, s in state.slots.items() if n != name), default=0)
    return state.with_slot(name, SlotState(top + 1, tries, False, version))


def mark_good(state: BootState, name: str) -> BootState:
    return state.with_slot(name, replace(state.slot(name), successful=True))


def mark_bad(state: BootState, name: str) -> BootState:
    return state.with_slot(name, replace(state.slot(name), priority=0, tries=0,
                                         successful=False))


class SlotBackend(Protocol):
    """Where a BootState is kept and how a payload reaches a slot."""

    def load(self) -> BootState: ...

    def save(self, state: BootState) -> None: ...

    def write(self, name: str, payload: Path) -> None:
        """Copy `payload` into slot `name`, durably (fsync) before returning."""
        ...

    def location(self, name: str) -> str:
        """Where slot `name` lives (a path or a device), for health checks and logs."""
        ...
