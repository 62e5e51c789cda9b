# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The machines of a Corral cluster as the store records them: records in, hosts out.

Pure (no I/O) and standard library only: the machines inventory uses it on the
controller and the machine_info module on managed hosts.

Input is what the store holds under the hidden `/_corral/` directory, as nested dicts
of names to values (`Node.to_tree()`): `machines/<id>` is a machine record (JSON, see
corral.fleet.records: id, hostname, ip, metadata, drained, version, journal) and
`states/<machine id>/<unit>` the state of a unit on a machine (JSON: load, active,
sub, ...). Records that are not JSON objects are skipped and reported, never fatal:
one broken agent must not hide the rest of the cluster from Ansible. States under a
name that is no live machine (a machine gone, or keys of the earlier
`states/<unit>/<machine id>` layout) are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MACHINES = "/_corral/machines"
STATES = "/_corral/states"

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class MachineHost:
    """One machine as an inventory host."""

    id: str
    hostname: str = ""
    ip: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    drained: bool = False
    version: str = ""
    units: dict[str, dict[str, Any]] = field(default_factory=dict)

    def name(self, preference: list[str]) -> str:
        """The inventory name: the first of `preference` (id, hostname, ip) that is set."""
        for attribute in preference:
            value = str(getattr(self, attribute, "") or "")
            if value:
                return value
        return self.id

    def as_dict(self) -> dict[str, Any]:
        """The machine as the machine_info module returns it."""
        return {
            "id": self.id,
            "hostname": self.hostname,
            "ip": self.ip,
            "metadata": dict(self.metadata),
            "drained": self.drained,
            "version": self.version,
            "units": {name: dict(state) for name, state in self.units.items()},
        }

    def host_vars(self) -> dict[str, Any]:
        return {
            "corral_machine_id": self.id,
            "corral_hostname": self.hostname,
            "corral_ip": self.ip,
            "corral_metadata": dict(self.metadata),
            "corral_drained": self.drained,
            "corral_version": self.version,
            "corral_units": {name: dict(state) for name, state in self.units.items()},
        }

    def metadata_groups(self, prefix: str = "") -> list[str]:
        """`region=eu` gives `region_eu` (with a prefix, `<prefix>_region_eu`)."""
        groups = []
        for key, value in sorted(self.metadata.items()):
            group = group_name(f"{key}_{value}")
            groups.append(group_name(f"{prefix}_{group}") if prefix else group)
        return groups


def group_name(text: str) -> str:
    """A valid Ansible group name: letters, digits and underscores."""
    name = _NOT_IN_NAME.sub("_", text)
    return f"_{name}" if name[:1].isdigit() else name


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_machines(
    machines: dict[str, Any], states: dict[str, Any]
) -> tuple[list[MachineHost], list[str]]:
    """Hosts from the `machines` and `states` trees, sorted by id, and the problems
    found (one sentence per record skipped)."""
    problems: list[str] = []
    hosts: dict[str, MachineHost] = {}
    for machine_id, text in sorted(machines.items()):
        record = _json_object(text)
        if record is None:
            problems.append(f"{MACHINES}/{machine_id} is not a machine record: {text!r:.100}")
            continue
        metadata = record.get("metadata") or {}
        hosts[machine_id] = MachineHost(
            id=str(record.get("id") or machine_id),
            hostname=str(record.get("hostname") or ""),
            ip=str(record.get("ip") or ""),
            metadata={str(k): str(v) for k, v in metadata.items()}
            if isinstance(metadata, dict) else {},
            drained=bool(record.get("drained", False)),
            version=str(record.get("version") or ""),
        )  # fmt: skip
    for machine_id, per_unit in sorted(states.items()):
        host = hosts.get(machine_id)
        if host is None or not isinstance(per_unit, dict):
            continue  # unit states left by a machine that is gone
        for unit, text in sorted(per_unit.items()):
            state = _json_object(text)
            if state is None:
                problems.append(f"{STATES}/{machine_id}/{unit} is not a unit state: {text!r:.100}")
                continue
            host.units[unit] = {k: state[k] for k in ("load", "active", "sub") if k in state}
    return list(hosts.values()), problems


def assign_names(hosts: list[MachineHost], preference: list[str]) -> dict[str, MachineHost]:
    """Inventory names by `preference`, unique: when several machines share a name
    (clones with the same hostname), each of them is named by its machine id."""
    wanted = [host.name(preference) for host in hosts]
    taken = {name for name in wanted if wanted.count(name) > 1}
    return {
        (host.id if name in taken else name): host
        for host, name in zip(hosts, wanted)  # noqa: B905 (targets may predate 3.10)
    }
