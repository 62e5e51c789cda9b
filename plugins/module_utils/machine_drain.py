# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Draining a machine of a Corral cluster, as `corralctl machine drain` does (pure, no I/O).

A machine record (`/_corral/machines/<id>`, JSON, see corral.fleet.records) is
changed in its `drained` field only; every other field is kept as the agent wrote it,
fields this collection does not know included. A record that is no JSON object, or
that claims another machine's id, is refused, as corralctl refuses it.

A drained machine is given no unit by the scheduler, global units included, and its
agent stops what it ran. It has finished draining when no unit is placed on it and it
reports no unit running (active, activating or deactivating).
"""

from __future__ import annotations

import json
from typing import Any

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
