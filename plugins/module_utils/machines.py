# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The machines of a Corral cluster as the store records them: records in, hosts out.

Pure (no I/O) and standard library only: the machines inventory uses it on the
controller and the machine_info module on managed hosts.

Input is what the store holds under the hidden `/_corral/` directory, as nested dicts
of names to values (`KeyNode.to_tree()`): `machines/<id>` is a machine record (JSON, see
corral.fleet.records: id, hostname, ip, metadata, drained, version, journal) and
`states/<machine id>/<unit>` the state of a unit on a machine (JSON: load, active,
sub, ...). States under a name that is no live machine (a machine gone, or keys of the
earlier `states/<unit>/<machine id>` layout) are ignored.

Everything read is untrusted: an agent's credentials may write its own record, any
value in it. So a machine is named by its key, which the store's roles let only its
own agent write (`corral-agent-<id>` writes `machines/<id>`), never by the `id` inside
the record: a record claiming another machine's id is skipped, or a stolen agent
credential could take over that machine's name and address in the inventory. Values
that are no record, or no sane name or address, are skipped and reported (one sentence
each), never fatal: one broken agent must not hide the rest of the cluster from Ansible.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.fleet_names import (
    UnitNameError,
    check_name,
)

MACHINES = "/_corral/machines"
STATES = "/_corral/states"

# A group name made from store values (metadata, or the version through keyed_groups)
# longer than this is no name anyone chose, and Ansible prints group names in its output
MAX_NAME = 128
# corral-fleet's --machine-id: letters, digits, '.', '_', '-', at most 128
MACHINE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# A DNS name (RFC 1035): at most 253 characters, labels of letters, digits, '-', '_'
_DNS_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?")  # fmt: skip
UNIT_STATE_FIELDS = ("load", "active", "sub")
MAX_UNIT_NAME = 256  # systemd's UNIT_NAME_MAX
MAX_UNIT_STATE = 32  # systemd's load/active/sub states are single short words

# Ansible's group names: letters, digits and underscores, not starting with a digit
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
        sources = {"id": self.id, "hostname": self.hostname, "ip": self.ip}
        for source in preference:
            value = sources.get(source)
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


def is_address(text: str) -> bool:
    """An IP address or a DNS name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(_DNS_NAME.fullmatch(text))
    return True


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _shown(value: Any) -> str:
    """A value in a problem sentence: its repr, cut short."""
    text = repr(value)
    size = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= 60 else f"{text[:60]}... ({size} characters)"


def machine_host(
    key: str, machine_id: str, value: Any, max_name: int = MAX_NAME
) -> tuple[MachineHost | None, list[str]]:
    """The host of the record `value` stored at `key` (`machines/<machine_id>`), or
    None when it is skipped; and the problems found, one sentence each."""
    if not MACHINE_ID.fullmatch(machine_id):
        return None, [f"{_shown(key)} skipped: the key is no machine id (letters, digits, "
                      "'.', '_', '-', at most 128)"]  # fmt: skip
    if isinstance(value, dict):
        return None, [f"{key} skipped: a directory, not a machine record"]
    record = _json_object(value)
    if record is None:
        return None, [f"{key} skipped: not a machine record (a JSON object): {_shown(value)}"]
    claimed = record.get("id", machine_id)
    if claimed != machine_id:
        return None, [f"{key} skipped: it claims to be machine {_shown(claimed)}; a machine is "
                      "named by the key only its own agent may write"]  # fmt: skip
    problems: list[str] = []

    def text(name: str, valid: Any, rule: str) -> str:
        found = record.get(name)
        if found is None or found == "":
            return ""
        if isinstance(found, str) and valid(found):
            return found
        problems.append(f"{key}: {name} ignored: {rule}: {_shown(found)}")
        return ""

    host = MachineHost(
        id=machine_id,
        hostname=text("hostname", _DNS_NAME.fullmatch, "not a host name"),
        ip=text("ip", is_address, "not an IP address or host name"),
        version=text("version", lambda v: len(v) <= max_name and v.isprintable(),
                     f"not printable text of at most {max_name} characters"),
        drained=record.get("drained", False) is True,
    )  # fmt: skip
    if record.get("drained", False) not in (True, False):
        problems.append(f"{key}: drained ignored: not true or false: {_shown(record['drained'])}")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.append(f"{key}: metadata ignored: not an object: {_shown(metadata)}")
        metadata = {}
    dropped = []
    for name, value in sorted(metadata.items()):
        if isinstance(value, str) and len(group_name(f"{name}_{value}")) <= max_name:
            host.metadata[name] = value
        else:
            dropped.append(name)
    if dropped:
        problems.append(
            f"{key}: metadata {_shown(dropped)} ignored: each value must be text, making a "
            f"group name of at most {max_name} characters (max_name_length)"
        )
    return host, problems


def unit_states(machine_id: str, per_unit: Any) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The units `states/<machine_id>` reports, and the problems found."""
    where = f"{STATES}/{machine_id}"
    if not isinstance(per_unit, dict):
        return {}, [f"{where} ignored: a key, not a directory of unit states"]
    units: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for unit, text in sorted(per_unit.items()):
        try:
            if len(unit) > MAX_UNIT_NAME:
                raise UnitNameError(unit)
            check_name(unit)
        except UnitNameError:
            problems.append(f"{where}/{_shown(unit)} ignored: not a unit name")
            continue
        state = _json_object(text)
        if state is None:
            what = "a directory" if isinstance(text, dict) else f"{_shown(text)}"
            problems.append(f"{where}/{unit} ignored: not a unit state (a JSON object): {what}")
            continue
        units[unit] = {
            k: state[k]
            for k in UNIT_STATE_FIELDS
            if isinstance(state.get(k), str) and len(state[k]) <= MAX_UNIT_STATE
        }
    return units, problems


def read_machines(
    machines: Any, states: Any, max_name: int = MAX_NAME
) -> tuple[list[MachineHost], list[str]]:
    """Hosts from the `machines` and `states` trees, sorted by id, and the problems
    found (one sentence per record or value skipped)."""
    problems: list[str] = []
    hosts: dict[str, MachineHost] = {}
    if not isinstance(machines, dict):
        return [], [f"{MACHINES} ignored: a key, not the directory of machine records"]
    for machine_id, value in sorted(machines.items()):
        host, found = machine_host(f"{MACHINES}/{machine_id}", machine_id, value, max_name)
        problems += found
        if host is not None:
            hosts[machine_id] = host
    if not isinstance(states, dict):
        problems.append(f"{STATES} ignored: a key, not the directory of unit states")
        states = {}
    for machine_id, per_unit in sorted(states.items()):
        host = hosts.get(machine_id)
        if host is None:
            continue  # unit states left by a machine that is gone
        host.units, found = unit_states(machine_id, per_unit)
        problems += found
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
