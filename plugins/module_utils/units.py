# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Units of the corral-fleet scheduler as the unit modules see them (pure, no I/O).

Records follow corral.fleet.records: `units/<name>` holds {"name", "contents",
"desired", "restart"}; `schedule/<name>` {"machine"}, or {"machine": "", "reason"}
for a unit the engine could not place; `states/<machine id>/<name>`
{"machine", "load", "active", "sub", "hash", ...}, all JSON under `/_corral/`.
A unit file is checked by the scheduler's own `unit_spec` (copied here as
`fleet_spec`), so the module refuses exactly what `corralctl unit submit` refuses.

Whether the cluster has reached a desired state is decided as `corralctl unit start`
decides it: `launched` when the scheduled machine reports the unit active, `loaded`
when it reports it inactive or failed, `inactive` (and absent) when no live machine
reports it at all; a global unit is not waited for, as in fleetctl.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils import fleet_names as names
from ansible_collections.corral.cloud.plugins.module_utils.fleet_spec import (
    SubmitError,
    content_hash,
    unit_spec,
)
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused

ROOT = "/_corral"
UNITS = f"{ROOT}/units"
DESIRED = ("inactive", "loaded", "launched")


@dataclass(frozen=True)
class UnitState:
    """A unit record: its file and the state the cluster should give it."""

    name: str
    contents: str
    desired: str = "inactive"
    restart: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, name: str, text: Any) -> UnitState:
        """A unit record, or Refused naming the key when `text` (a value, or a dict for
        a directory) is none."""
        if isinstance(text, dict):
            raise Refused(f"{UNITS}/{name} is a directory, not a unit record")
        try:
            data = json.loads(text or "")
            if not isinstance(data, dict) or not isinstance(data.get("contents"), str):
                raise ValueError("not a unit record")
        except ValueError as exc:
            raise Refused(f"{UNITS}/{name} is not a unit record: {text!r:.100}") from exc
        restart = data.get("restart")
        if not isinstance(restart, dict):
            restart = {}
        return cls(name, data["contents"], str(data.get("desired") or "inactive"), restart)

    def dump(self) -> str:
        """The record as corral.fleet.records.encode writes it (sorted keys)."""
        record = {"contents": self.contents, "desired": self.desired, "name": self.name,
                  "restart": self.restart}  # fmt: skip
        return json.dumps(record, sort_keys=True)

    def render(self) -> str:
        """For --diff: the desired state, then the unit file."""
        text = self.contents if self.contents.endswith("\n") else self.contents + "\n"
        return f"# desired: {self.desired}\n{text}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "contents": self.contents, "desired": self.desired,
                "hash": content_hash(self.contents)}  # fmt: skip


@dataclass(frozen=True)
class UnitWanted:
    name: str
    present: bool
    desired: str = "launched"
    contents: str | None = None  # None: keep the stored file (or the template's)


def plan_unit(
    current: UnitState | None, wanted: UnitWanted, template: str | None
) -> UnitState | None:
    """The record to store; `template` is the contents of the instance's template, if any.
    Raises Refused for a unit the scheduler would refuse."""
    if not wanted.present:
        return None
    contents = wanted.contents
    if contents is None:
        contents = current.contents if current is not None else template
    if contents is None:
        raise Refused(f"unit {wanted.name} is not in the cluster: give content or src")
    if names.is_template(wanted.name) and wanted.desired != "inactive":
        raise Refused(
            f"{wanted.name} is a template: it can only be stored with state=inactive; "
            f"start an instance such as {names.prefix(wanted.name)}@1.{names.suffix(wanted.name)}"
        )
    try:
        unit_spec(wanted.name, contents)
    except SubmitError as exc:
        raise Refused(str(exc)) from exc
    restart = current.restart if current is not None else {}
    return UnitState(wanted.name, contents, wanted.desired, restart)


@dataclass
class ClusterView:
    """What live machines report about units, from the `/_corral` tree."""

    machines: set[str] = field(default_factory=set)
    units: dict[str, UnitState] = field(default_factory=dict)
    schedule: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a unit is not placed
    states: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # records left out, one sentence each

    @classmethod
    def of(cls, tree: Any) -> ClusterView:
        """From `KeyNode.to_tree()` of `/_corral`; unreadable records are left out, and
        named in `problems`."""
        tree = tree if isinstance(tree, dict) else {}
        view = cls(machines=set(_dict(tree.get("machines"))))
        for name, text in _dict(tree.get("units")).items():
            try:
                view.units[name] = UnitState.parse(name, text)
            except Refused as exc:
                view.problems.append(f"{exc}; left out")
        for name, text in _dict(tree.get("schedule")).items():
            record = _json(text)
            machine = record.get("machine")
            if isinstance(machine, str) and machine:
                view.schedule[name] = machine
            elif machine == "":  # not placed, and why
                reason = record.get("reason")
                view.reasons[name] = reason[:1000] if isinstance(reason, str) else ""
            else:
                view.problems.append(f"{ROOT}/schedule/{name} is not a placement: {text!r:.100}")
        for machine, per_unit in _dict(tree.get("states")).items():
            if machine not in view.machines:
                continue  # a machine gone, or the earlier states/<unit>/<machine> layout
            for name, text in _dict(per_unit).items():
                state = _json(text)
                if state:
                    view.states.setdefault(name, {})[machine] = {
                        k: state[k] for k in ("load", "active", "sub", "hash") if k in state
                    }
                else:
                    where = f"{ROOT}/states/{machine}/{name}"
                    view.problems.append(f"{where} is not a unit state: {text!r:.100}")
        return view

    def is_global(self, name: str) -> bool:
        unit = self.units.get(name)
        if unit is None:
            return False
        try:
            return unit_spec(name, unit.contents).options.global_
        except SubmitError:
            return False

    def reached(self, name: str, desired: str | None) -> bool:
        """Whether the cluster reports `name` in `desired` (None: absent)."""
        states = self.states.get(name, {})
        if desired in (None, "inactive"):
            return not states
        if self.is_global(name):
            return True
        target = self.schedule.get(name)
        if target is None or target not in states:
            return False
        if desired == "launched":
            return bool(states[target].get("active") == "active")
        return states[target].get("active") in ("inactive", "failed")

    def current(self, name: str) -> str:
        """fleet's STATE column: launched, loaded or inactive."""
        states = self.states.get(name, {}).values()
        if any(s.get("active") in ("active", "activating", "deactivating") for s in states):
            return "launched"
        return "loaded" if states else "inactive"

    def describe(self, name: str) -> dict[str, Any]:
        """A unit as the unit modules return it."""
        unit = self.units.get(name)
        out: dict[str, Any] = unit.as_dict() if unit else {"name": name}
        out.update(
            state=self.current(name),
            machine=self.schedule.get(name),
            reason=self.reasons.get(name, ""),
            is_global=self.is_global(name),
            states={m: dict(s) for m, s in sorted(self.states.get(name, {}).items())},
        )
        return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
