"""What this machine's daemon remembers across its own reboots (a JSON file in its
state directory, replaced atomically). The slots, not this file, say what is staged,
booted and on trial (`converge`); this file adds only what the slots cannot hold:

- `written`: the release this daemon last wrote into a slot (slot, version, release
  id), saved before the slot is touched, so a staged or booted slot can be matched to
  its release id (for the canary and `bad/` keys);
- `verdict`: a health-gate outcome not yet recorded in the store, saved before the
  slot is marked good or bad and retried every pass until the store took it;
- whether it holds the lock and drained the machine (both undone after the gate);
- what it rebooted into (for the history's "back") and the last rollback to report.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Staged:
    """A release written into a slot: which slot, which version, which release id."""
    slot: str
    version: str
    release_id: str


@dataclass
class GateResult:
    """A release's health-gate outcome on this machine, for its report in the store."""

    release_id: str
    version: str
    good: bool
    reason: str = ""


@dataclass
class LocalState:
    """The daemon's own memory across reboots, saved as JSON in its state directory."""
    lock_held: bool = False
    drained: bool = False
    written: Staged | None = None
    rebooting_to: Staged | None = None
    verdict: GateResult | None = None
    rollback: str = ""

    @classmethod
    def load(cls, path: Path) -> LocalState:
        if not path.exists():
            return cls()
        try:
            body = json.loads(path.read_text())
            # a file from before `written` existed: what it staged is what it wrote
            written = body.get("written") or body.get("staged") or body.get("rebooting_to")
            target = body.get("rebooting_to")
            verdict = body.get("verdict")
            return cls(bool(body.get("lock_held")), bool(body.get("drained")),
                       Staged(**written) if written else None,
                       Staged(**target) if target else None,
                       GateResult(**verdict) if verdict else None,
                       str(body.get("rollback", "")))  # fmt: skip
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path}: unreadable daemon state ({exc}); remove it to start"
                             " afresh (release the lock by hand if this machine held it)"
                             ) from None  # fmt: skip

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(asdict(self), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk keeps the old file, not a stray one
            raise
