# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Draining a machine of a Corral cluster and changing its metadata, as `corralctl
machine drain/undrain/set-metadata` do (pure, no I/O).

A machine record (`/_corral/machines/<id>`, JSON, see corral.fleet.records) is
changed in its `drained` and `metadata` fields only; every other field is kept as the
agent wrote it, fields this collection does not know included. The agent keeps both
across its heartbeats; on its next start `--metadata` defines the metadata again. A
record that is no JSON object, or that claims another machine's id, is refused, as
corralctl refuses it.

A drained machine is given no unit by the scheduler, global units included, and its
agent stops what it ran. It has finished draining when no unit is placed on it and it
reports no unit running (active, activating or deactivating).
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.fleet_metadata import (
    MetadataError,
    parse_metadata,
)
from ansible_collections.corral.cloud.plugins.module_utils.machines import MACHINE_ID, MACHINES
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.units import ClusterView

RUNNING = ("active", "activating", "deactivating")


def machine_key(machine_id: str) -> str:
    """The record's key; Refused for a name that is no machine id."""
    if not MACHINE_ID.fullmatch(machine_id):
        raise Refused(
            f"{machine_id!r:.140} is no machine id (letters, digits, '.', '_', '-', at most 128)"
        )
    return f"{MACHINES}/{machine_id}"


def parse_record(machine_id: str, value: Any) -> dict[str, Any]:
    """The record stored for `machine_id`, or Refused naming its key."""
    key = f"{MACHINES}/{machine_id}"
    try:
        record = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise Refused(f"{key} is not a machine record (a JSON object): {value!r:.100}")
    if record.get("id", machine_id) != machine_id:
        raise Refused(
            f"{key} claims to be machine {record['id']!r:.100}: a machine is the one its "
            "key names, so this record is not changed"
        )
    return record


def is_drained(record: dict[str, Any]) -> bool:
    return record.get("drained") is True


def with_drained(record: dict[str, Any], drained: bool) -> dict[str, Any]:
    """The record with `drained` set; the same record when it already says so."""
    if is_drained(record) == drained and record.get("drained", False) in (True, False):
        return record
    return {**record, "drained": drained}


def check_metadata(changes: dict[str, Any]) -> dict[str, str | None]:
    """The metadata changes (a value of None or "" removes the key), each pair checked
    as corral-fleet's --metadata flag checks it; Refused naming the first bad one."""
    out: dict[str, str | None] = {}
    for key, value in changes.items():
        text = "" if value is None else value
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)  # `rack: 3` in YAML
        if not isinstance(text, str):
            raise Refused(f"metadata {key}: the value must be text, not {type(value).__name__}")
        try:
            parsed = parse_metadata(f"{key}={text}")
        except MetadataError as exc:
            raise Refused(str(exc)) from exc
        if parsed != {key: text}:  # a comma or surrounding spaces would not survive
            raise Refused(f"metadata {key}={text!r}: not a KEY=VALUE corral-fleet accepts")
        out[key] = text or None
    return out


def with_metadata(record: dict[str, Any], changes: dict[str, str | None]) -> dict[str, Any]:
    """The record with the metadata changes applied; the same record when none changes."""
    current = record.get("metadata")
    if not isinstance(current, dict):
        current = {}
    wanted = dict(current)
    for key, value in changes.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value
    return record if wanted == current else {**record, "metadata": wanted}


def encode(record: dict[str, Any]) -> str:
    """As corral-fleet writes records: JSON with sorted keys."""
    return json.dumps(record, sort_keys=True)


def render(record: dict[str, Any] | None) -> str:
    """A record as text for --diff."""
    return "" if record is None else json.dumps(record, sort_keys=True, indent=2) + "\n"


def units_on(view: ClusterView, machine_id: str) -> list[str]:
    """The units still placed on the machine or reported running by it, sorted."""
    placed = {name for name, machine in view.schedule.items() if machine == machine_id}
    running = {
        name
        for name, per_machine in view.states.items()
        if per_machine.get(machine_id, {}).get("active") in RUNNING
    }
    return sorted(placed | running)
