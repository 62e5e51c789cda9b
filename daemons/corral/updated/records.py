"""What corral-updated keeps in the store under `/_corral/update/`: keys and JSON
formats (pure, no I/O).

Each machine's updater writes only keys named for its own id (its status, heartbeat,
history, verdicts, drain request and reboot-lock place); every key that steers more
than one machine is an operator's, and what the fleet must avoid is derived by each
reader from the machines' facts, so one machine's credential can hurt only that
machine. The 0.1.0 layout's `bad/`, `canary/` and `lock` documents are still read,
never written. ARCHITECTURE.md ("Keys under /_corral/") lists every key and its writer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")  # a record class: decode() returns one

ROOT = "/_corral/update"
MACHINES = f"{ROOT}/machines"
ALIVE = f"{ROOT}/alive"
LOCK = f"{ROOT}/lock"  # the earlier layout's semaphore document; also the lock's name
LOCK_GROUPS = f"{ROOT}/lock-groups"  # likewise, for groups
REBOOT_LOCK = f"{ROOT}/reboot-lock"
LOCK_HOLDERS = f"{REBOOT_LOCK}/holders"
LOCK_MAX = f"{REBOOT_LOCK}/max"
BAD = f"{ROOT}/bad"  # the earlier layout's fleet-wide bad marks (read, cleared)
CANARY = f"{ROOT}/canary"  # the earlier layout's canary claims and proofs
REPORTS = f"{ROOT}/reports"
CANARIES = f"{ROOT}/canaries"
DRAIN = f"{ROOT}/drain"
FAILED = "failed"
PROVEN = "proven"
VERDICTS = (FAILED, PROVEN)
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


class UpdateRecordError(ValueError):
    """A value in the store is not the record its key calls for."""


@dataclass
class MachineStatus:
    """`status/<id>`: what one machine's updater reports of itself."""
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
    """A release a machine's health gate failed, which others must not install."""
    release_id: str
    version: str
    machine: str
    reason: str
    time: str


@dataclass
class Verdict:
    """One machine's word on one release, at `reports/<machine>/<release_id>`."""

    release_id: str
    version: str
    machine: str
    verdict: str  # FAILED or PROVEN
    reason: str = ""  # why it failed
    time: str = ""


@dataclass
class HistoryEntry:
    """One line of a machine's update history."""
    time: str
    event: str  # installed, reboot, good, rollback, error, cleared...
    version: str = ""
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def encode(record: Any) -> str:
    return json.dumps(asdict(record), sort_keys=True)


def decode(cls: type[R], text: str | None) -> R:
    try:
        data = json.loads(text or "")
        if not isinstance(data, dict):
            raise TypeError("not an object")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise UpdateRecordError(f"not a {cls.__name__}: {text!r:.200} ({exc})") from exc
