"""What corral-updated keeps in the store: keys and JSON formats (pure, no I/O).

Keys, all under `/_corral/update/`. Each machine's updater writes only keys named for
its own id (its facts); every key that steers more than one machine is an operator's
(the `corral-admin` role of `corralctl role layout`), and what the fleet must avoid is
derived by each reader from the machines' facts, so that one machine's credential can
hurt only that machine.

Written by the updater of machine <id>:
- `machines/<id>`: a MachineStatus, written on every change (no TTL: the last word of a
  dead machine stays readable).
- `alive/<id>`: the daemon's heartbeat, with a TTL; a lock holder without one has
  expired and is not counted by the machines that want the lock.
- `history/<id>/`: in-order entries (POST), one per event worth an operator's eyes.
- `requests/<id>/check`, `requests/<id>/reboot`: an operator's requests, consumed
  (deleted) by the daemon when it acts on them.
- `reports/<id>/<release_id>`: a Verdict, this machine's word on a release: `failed`
  (its health gate failed) or `proven` (it passed). A release is bad for the whole fleet
  while any machine's `failed` report of it is there, until an operator clears it
  (`corralctl update clear RELEASE_ID` deletes the failed reports). A release is proven
  only by a canary's `proven` report (see `verdicts`).
- `drain/<id>`: the updater asks the fleet agent of its own machine to drain it before a
  reboot; the agent, which alone writes its machine record, sets `drained` from it.
- `reboot-lock/holders/<id>/<lock>`: this machine's place in a reboot lock (`lock`, or
  `lock-groups/<group>`), see `reboot_lock`.

Written by operators (admin role) only:
- `reboot-lock/max/<lock>`: how many machines may hold that lock at once.
- `canaries/<id>`: present names <id> a canary; with none named, the canary is derived
  (see `verdicts`), never chosen by a machine itself.
- `holds/<id>` or `holds/all`: present means keep the installed version.
- `config/all`, `config/<id>`: the channel, strategy and windows set by an operator
  (`corralctl update set`, the `corral.cloud.update` module) over the daemon's flags:
  the cluster's default, then one machine's own (see `settings`). The daemon reads them
  on every tick of its loop and reports what it applies in its status.
- `requests/<id>/<kind>`: made by operators, consumed by the machine.

Earlier layouts, still read (never written by the daemon): `bad/<release_id>` (a
BadRelease: bad for the fleet until an operator clears it), `lock` and
`lock-groups/<group>` (locksmith's semaphore document: its `max` applies while no
`reboot-lock/max/<lock>` is set, and its live holders count as holders), and
`canary/<release_id>`: the value `proven` proves a release (what daemons of the earlier
version write while both run during an upgrade; once `role layout` revoked their grant,
only operators may write it). The machine ids the earlier layout wrote there are
ignored: the canary is no longer self-declared.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

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
