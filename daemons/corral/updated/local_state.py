"""What this machine's daemon must remember across its own reboots (a JSON file in its
state directory, replaced atomically): whether it holds the lock and drained the
machine (both undone only after the health gate), what is staged, what it rebooted
into, and the last rollback to report.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Staged:
    slot: str
    version: str
    release_id: str


@dataclass
class LocalState:
    lock_held: bool = False
    drained: bool = False
    staged: Staged | None = None
    rebooting_to: Staged | None = None
    rollback: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LocalState:
        if not path.exists():
            return cls()
        try:
            body = json.loads(path.read_text())
            staged = Staged(**body["staged"]) if body.get("staged") else None
            target = Staged(**body["rebooting_to"]) if body.get("rebooting_to") else None
            return cls(bool(body.get("lock_held")), bool(body.get("drained")), staged, target,
                       str(body.get("rollback", "")))  # fmt: skip
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: unreadable daemon state ({exc}); remove it to start"
                             " afresh (release the lock by hand if this machine held it)"
                             ) from None  # fmt: skip

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
