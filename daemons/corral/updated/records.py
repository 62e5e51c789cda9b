"""What corral-updated keeps in the store: keys and JSON formats (pure, no I/O).

Keys, all under `/_corral/update/`:
- `machines/<id>`: a MachineStatus, written by that machine's daemon on every change
  (no TTL: the last word of a dead machine stays readable).
- `alive/<id>`: the daemon's heartbeat, with a TTL; a lock holder without one has
  expired and is dropped by the next machine that wants the lock.
- `lock`, `lock-groups/<group>`: locksmith-format semaphores (see `semaphore`).
- `bad/<release_id>`: a BadRelease; no machine installs that release until an operator
  deletes the key (`corralctl update clear RELEASE_ID`).
- `canary/<release_id>`: the machine that installs a release first (with `--canary`,
  the default): the others wait until it passed its health gate (the value becomes
  `proven`), or take its place if it stops heartbeating.
- `holds/<id>` or `holds/all`: present means keep the installed version.
- `requests/<id>/check`, `requests/<id>/reboot`: an operator's request, consumed
  (deleted) by the daemon when it acts on it.
- `history/<id>/`: in-order entries (POST), one per event worth an operator's eyes.
- `config/all`, `config/<id>`: the channel, strategy and windows set by an operator
  (`corralctl update set`, the `corral.cloud.update` module) over the daemon's flags:
  the cluster's default, then one machine's own (see `settings`). The daemon reads them
  on every tick of its loop and reports what it applies in its status.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

ROOT = "/_corral/update"
MACHINES = f"{ROOT}/machines"
ALIVE = f"{ROOT}/alive"
LOCK = f"{ROOT}/lock"
LOCK_GROUPS = f"{ROOT}/lock-groups"
BAD = f"{ROOT}/bad"
CANARY = f"{ROOT}/canary"
PROVEN = "proven"
HOLDS = f"{ROOT}/holds"
REQUESTS = f"{ROOT}/requests"
HISTORY = f"{ROOT}/history"
CONFIG = f"{ROOT}/config"
HOLD_ALL = "all"

# update_engine's status names
IDLE = "UPDATE_STATUS_IDLE"
CHECKING = "UPDATE_STATUS_CHECKING_FOR_UPDATE"
AVAILABLE = "UPDATE_STATUS_UPDATE_AVAILABLE"
DOWNLOADING = "UPDATE_STATUS_DOWNLOADING"
VERIFYING = "UPDATE_STATUS_VERIFYING"
FINALIZING = "UPDATE_STATUS_FINALIZING"
NEED_REBOOT = "UPDATE_STATUS_UPDATED_NEED_REBOOT"
ERROR = "UPDATE_STATUS_REPORTING_ERROR_EVENT"
STATUSES = (IDLE, CHECKING, AVAILABLE, DOWNLOADING, VERIFYING, FINALIZING, NEED_REBOOT, ERROR)


class RecordError(ValueError):
    """A value in the store is not the record its key calls for."""


@dataclass
class MachineStatus:
    machine: str
    status: str = IDLE
    version: str = ""  # running now
    slot: str = ""  # booted now
    new_version: str = ""  # staged or being installed
    release_id: str = ""
    progress: float = 0.0  # 0..1 while downloading
    error: str = ""  # why the last attempt failed (kind: message)
    note: str = ""  # what the daemon waits for (window, lock, hold, operator...)
    rollback: str = ""  # the last rollback, kept until a newer release boots good
    strategy: str = ""  # effective: flags, then config/all, then config/<id>
    channel: str = ""  # effective, as strategy
    windows: list[str] = field(default_factory=list)  # effective; empty: any time
    defaults: dict[str, Any] = field(default_factory=dict)  # the daemon's flags
    config_error: str = ""  # why a config record was refused (the last good one applies)
    updated: str = ""  # UTC time of this record


@dataclass
class BadRelease:
    release_id: str
    version: str
    machine: str
    reason: str
    time: str


@dataclass
class HistoryEntry:
    time: str
    event: str  # installed, reboot, good, rollback, error, cleared...
    version: str = ""
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def encode(record: Any) -> str:
    return json.dumps(asdict(record), sort_keys=True)


def decode(cls: type, text: str | None) -> Any:
    try:
        data = json.loads(text or "")
        if not isinstance(data, dict):
            raise TypeError("not an object")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise RecordError(f"not a {cls.__name__}: {text!r:.200} ({exc})") from exc
