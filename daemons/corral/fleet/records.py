"""The scheduler's records in the store: keys and JSON formats (pure, no I/O).

Keys, all under the hidden `/_corral/` directory:
- `machines/<id>`: a MachineRecord, written by the machine's agent with a TTL that the
  agent refreshes at a third of it; the key expiring means the machine is gone.
- `units/<name>`: a UnitRecord (contents and desired state), written by corralctl.
- `schedule/<name>`: a ScheduleRecord, written only by the elected engine.
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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, get_origin, get_type_hints

from corral.client import StoreError
from corral.fleet.names import UnitNameError, check_name

ROOT = "/_corral"
MACHINES = f"{ROOT}/machines"
UNITS = f"{ROOT}/units"
SCHEDULE = f"{ROOT}/schedule"
STATES = f"{ROOT}/states"
LEADER = f"{ROOT}/engine/leader"


class RecordError(StoreError, ValueError):
    """A value in the store is not the JSON record its key calls for (corralctl
    reports it as any other store error)."""


@dataclass
class MachineRecord:
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
    name: str
    contents: str
    desired: str = "inactive"
    # machine id -> token: a new token asks that machine's agent to restart the unit
    restart: dict[str, str] = field(default_factory=dict)


@dataclass
class ScheduleRecord:
    machine: str


@dataclass
class StateRecord:
    machine: str
    load: str = "loaded"
    active: str = "inactive"
    sub: str = "dead"
    hash: str = ""
    failures: int = 0
    restart: str = ""  # the last restart token applied
    main_pid: int = 0


def encode(record: Any) -> str:
    return json.dumps(asdict(record), sort_keys=True)


def decode(cls: type, text: str | None) -> Any:
    try:
        data = json.loads(text or "")
        if not isinstance(data, dict):
            raise TypeError("not an object")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise RecordError(f"not a {cls.__name__}: {text!r:.200} ({exc})") from exc


def machine_record(machine_id: str, text: str | None) -> MachineRecord:
    """The record stored at `machines/<machine_id>`. RecordError when it is none (or
    its fields have the wrong types), or when it claims to be another machine (its
    agent's credentials were used to forge one: believing it would give that agent
    another machine's name)."""
    key = f"{MACHINES}/{machine_id}"
    if "/" in machine_id:
        raise RecordError(f"{key}: not a machine id")
    try:
        record: MachineRecord = decode(MachineRecord, text)
    except RecordError as exc:
        raise RecordError(f"{key}: {exc}") from exc
    if record.id != machine_id:
        raise RecordError(
            f"{key} claims to be machine {record.id!r:.100}: a machine is the one its key names"
        )
    types = get_type_hints(MachineRecord)
    wrong = [name for name, value in asdict(record).items()
             if not isinstance(value, get_origin(types[name]) or types[name])]  # fmt: skip
    if "metadata" not in wrong and not all(isinstance(v, str) for v in record.metadata.values()):
        wrong.append("metadata")
    if wrong:
        raise RecordError(f"{key}: not a MachineRecord: wrong type of {', '.join(wrong)}")
    return record


def key_name(key: str, base: str) -> str | None:
    """`/_corral/units/a.service` under UNITS -> `a.service`; None if not under it."""
    if not key.startswith(base + "/"):
        return None
    return key[len(base) + 1 :]


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
