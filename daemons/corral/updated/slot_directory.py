"""The `directory` slot backend: two directories and a JSON state file, for labs/tests.

    DIR/slots.json   {"booted": "a", "slots": {"a": {"priority", "tries",
                      "successful", "version"}, "b": {...}}}
    DIR/a/payload    the payload installed in slot a (likewise b)

The state file is replaced atomically (write, fsync, rename), so a crash leaves the old
state or the new one. `corral.updated.firmware` plays the boot loader on it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from corral.updated.slots import SLOT_NAMES, BootState, SlotError, SlotState, initial_state


class DirectorySlots:
    """Slots as two directories and a state file, for labs and tests."""

    def __init__(self, base: Path, initial_version: str = "0.0.0") -> None:
        self.base = base
        self.state_file = base / "slots.json"
        self.initial_version = initial_version

    def load(self) -> BootState:
        if not self.state_file.exists():
            state = initial_state(self.initial_version)
            self.save(state)
            return state
        try:
            body = json.loads(self.state_file.read_text())
            slots = {n: SlotState(**body["slots"][n]) for n in SLOT_NAMES}
            booted = str(body["booted"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SlotError(f"{self.state_file}: unreadable slot state ({exc})") from None
        if booted not in SLOT_NAMES:
            raise SlotError(f"{self.state_file}: booted slot {booted!r} is not a or b")
        return BootState(booted, slots)

    def save(self, state: BootState) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        body = {"booted": state.booted, "slots": {n: asdict(s) for n, s in state.slots.items()}}
        _write_atomic(self.state_file, json.dumps(body, indent=1, sort_keys=True) + "\n")

    def write(self, name: str, payload: Path) -> None:
        target = self.base / name / "payload"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        try:
            with open(payload, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk must not stay full
            raise

    def location(self, name: str) -> str:
        return str(self.base / name / "payload")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
