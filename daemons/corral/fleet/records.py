"""The scheduler's records in the store: keys and JSON formats (pure, no I/O).

Keys, all under the hidden `/_corral/` directory:
- `machines/<id>`: a MachineRecord, written by the machine's agent with a TTL that the
  agent refreshes at a third of it; the key expiring means the machine is gone.
- `units/<name>`: a UnitRecord (contents and desired state), written by corralctl.
- `schedule/<name>`: a ScheduleRecord, written only by the elected engine: the
  machine, `{"machine": id}`, or, for a unit that wants one and has none, why:
  `{"machine": "", "reason": text}`.
- `states/<machine id>/<name>`: a StateRecord, written by the agent running the unit
  (a directory per machine, so that a store role can let each agent write only its
  own: `corral-agent-<id>` writes `states/<id>/*`). Keys of the earlier layout,
  `states/<name>/<machine id>`, are not read (`state_key_parts` refuses them, as the
  last part is not a unit name); the elected engine deletes them (`legacy_state_key`).
- `engine/leader`: the machine id of the elected engine's agent, with a TTL.

Machine record JSON (read by the Ansible inventory plugin; fields may be added, never
renamed): {"id": str, "hostname": str, "ip": str, "metadata": {str: str},
"drained": bool, "version": str, "journal": str (URL of the agent's log endpoint)}.
A machine is the one its key names, which only its own agent may write
(`corral-agent-<id>`); the `id` inside is the agent's own word, so a record whose `id`
names another machine is refused by every reader (`machine_record`), never believed.

Everything read from the store is untrusted: `decode` refuses a value larger than
MAX_RECORD_BYTES, not a JSON object, or with a field of the wrong type, and
`machine_key_id` refuses a machine key whose last part is no machine id.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from corral.client import StoreError
from corral.fleet.names import UnitNameError, check_name

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")  # a record class: decode() returns one

# the largest record corral writes is a unit record: a 64 KiB file, JSON-escaped
MAX_RECORD_BYTES = 1024 * 1024
# the largest --max-unit-size: a file escaped into JSON (at worst 6 characters a byte,
# \u00XX) still fits in one record
MAX_UNIT_SIZE_CEILING = (MAX_RECORD_BYTES - 4096) // 6
MACHINE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
ROOT = "/_corral"
MACHINES = f"{ROOT}/machines"
UNITS = f"{ROOT}/units"
SCHEDULE = f"{ROOT}/schedule"
STATES = f"{ROOT}/states"
LEADER = f"{ROOT}/engine/leader"


class FleetRecordError(StoreError, ValueError):
    """A value in the store is not the JSON record its key calls for (corralctl
    reports it as any other store error)."""


@dataclass
class MachineRecord:
    """`machines/<id>`: what a machine's agent says of it (address, metadata, drain)."""
    id: str
    hostname: str = ""
    ip: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    drained: bool = False  # an operator's drain (corralctl machine drain)
    version: str = ""
    journal: str = ""
    # corral-updated's drain before a reboot: the agent copies it from the updater's own
    # request key (the updater may not write this record), apart from `drained`
    update_drain: bool = False

    @property
    def unschedulable(self) -> bool:
        return self.drained or self.update_drain


@dataclass
class UnitRecord:
    """`units/<name>`: a submitted unit and the state its user asked for."""
    name: str
    contents: str
    desired: str = "inactive"
    # machine id -> token: a new token asks that machine's agent to restart the unit
    restart: dict[str, str] = field(default_factory=dict)


@dataclass
class ScheduleRecord:
    """`schedule/<name>`: the machine the engine placed a unit on, or why none."""
    machine: str  # "" when not placed
    reason: str = ""  # why not placed; not written when empty (the format before it)


@dataclass
class StateRecord:
    """`states/<machine>/<name>`: a unit's state as the agent running it reports."""
    machine: str
    load: str = "loaded"
    active: str = "inactive"
    sub: str = "dead"
    hash: str = ""
    failures: int = 0
    restart: str = ""  # the last restart token applied
    main_pid: int = 0
    reason: str = ""  # why it failed or was refused


def encode(record: Any) -> str:
    data = asdict(record)
    if isinstance(record, ScheduleRecord) and not record.reason:
        del data["reason"]  # a placement is stored as engines always stored it
    return json.dumps(data, sort_keys=True)


def decode(cls: type[R], text: str | None) -> R:
    try:
        if text is not None and len(text) > MAX_RECORD_BYTES:
            raise ValueError(f"{len(text)} characters, more than {MAX_RECORD_BYTES}")
        data = json.loads(text or "")
        if not isinstance(data, dict):
            raise TypeError("not an object")
        kinds = {f.name: str(f.type) for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in kinds}
        for key, value in values.items():
            if not _is_a(value, kinds[key]):
                raise TypeError(f"{key}: expected {kinds[key]}")
        return cls(**values)
    except (ValueError, TypeError, RecursionError) as exc:
        raise FleetRecordError(f"not a {cls.__name__}: {text!r:.200} ({exc})") from exc


def machine_record(machine_id: str, text: str | None) -> MachineRecord:
    """The record stored at `machines/<machine_id>`. FleetRecordError when it is none (see
    `decode`), or when it claims to be another machine (its agent's credentials were
    used to forge one: believing it would give that agent another machine's name)."""
    key = f"{MACHINES}/{machine_id}"
    if machine_key_id(key) is None:
        raise FleetRecordError(f"{key}: not a machine id")
    try:
        record: MachineRecord = decode(MachineRecord, text)
    except FleetRecordError as exc:
        raise FleetRecordError(f"{key}: {exc}") from exc
    if record.id != machine_id:
        raise FleetRecordError(
            f"{key} claims to be machine {record.id!r:.100}: a machine is the one its key names"
        )
    return record


def _is_a(value: object, kind: str) -> bool:
    """Whether a JSON value fits a field annotated `kind` (the annotations here)."""
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "dict[str, str]":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise TypeError(f"no check for {kind}")  # a field added without one: fail loudly


def key_name(key: str, base: str) -> str | None:
    """`/_corral/units/a.service` under UNITS -> `a.service`; None if not under it."""
    if not key.startswith(base + "/"):
        return None
    return key[len(base) + 1 :]


def machine_key_id(key: str) -> str | None:
    """`/_corral/machines/m1` -> `m1`; None for any other key, including a key below
    a machine's (`machines/m1/x`: a directory where a record belongs)."""
    mid = key_name(key, MACHINES)
    return mid if mid is not None and MACHINE_ID.fullmatch(mid) else None


def state_key(machine: str, unit: str) -> str:
    """Where the agent of `machine` reports `unit`: `/_corral/states/<machine>/<unit>`."""
    return f"{STATES}/{machine}/{unit}"


def _is_unit_name(text: str) -> bool:
    try:
        check_name(text)
    except UnitNameError:
        return False
    return True


def state_key_parts(key: str) -> tuple[str, str] | None:
    """`/_corral/states/m1/a.service` -> (`m1`, `a.service`); None for any other key,
    including the earlier layout's `states/a.service/m1` (its last part is no unit)."""
    rest = key_name(key, STATES)
    if rest is None or rest.count("/") != 1:
        return None
    machine, unit = rest.split("/")
    return (machine, unit) if machine and _is_unit_name(unit) else None


def legacy_state_key(key: str) -> bool:
    """Whether `key` is a state in the earlier `states/<unit>/<machine>` layout."""
    rest = key_name(key, STATES)
    if rest is None or rest.count("/") != 1:
        return False
    unit, machine = rest.split("/")
    return _is_unit_name(unit) and bool(machine) and not _is_unit_name(machine)
