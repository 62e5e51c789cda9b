"""What an agent needs from an executor (systemd or the process supervisor)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UnitStatus:
    """A unit's state as systemd names it, plus what the agent reports about it."""
    load: str = "loaded"  # "loaded" or "not-found"
    active: str = "inactive"  # inactive, activating, active, deactivating, failed
    sub: str = "dead"
    failures: int = 0
    main_pid: int = 0
    lost: bool = False  # it was running when its supervisor vanished (host restart)
    reason: str = ""  # why it failed or was refused, for `corralctl unit status`


class Executor(Protocol):
    """Runs units on this machine; the agent converges through these calls only."""

    def loaded(self) -> dict[str, str]:
        """Units loaded on this machine: name -> content hash."""
        ...

    def load(self, name: str, contents: str) -> None: ...

    def unload(self, name: str) -> bool:
        """Stop and forget the unit; False while it is still stopping (ask again)."""
        ...

    def start(self, name: str) -> bool:
        """Start the unit; False while an earlier stop is still under way (ask again).
        Never blocks the agent."""
        ...

    def stop(self, name: str) -> None:
        """Ask the unit to stop; returns without waiting."""
        ...

    def status(self, name: str) -> UnitStatus: ...

    def journal(self, name: str, lines: int, follow: bool) -> Iterator[str]:
        """The unit's last `lines` log lines, then (with follow) new ones as they come."""
        ...
