#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.unit: a unit of the corral-fleet scheduler, in a desired state."""

from __future__ import annotations

DOCUMENTATION = r"""
module: unit
short_description: Submit, start, stop or destroy a unit of a Corral cluster
version_added: 0.1.0
description:
  - Makes a systemd unit file with an C([X-Fleet]) section exist in the Corral
    cluster with a desired state, as C(corralctl unit submit/load/start/stop/unload/destroy)
    does. The corral-fleet engine places the unit and the agents converge on it.
  - The unit record is written only when its file or desired state differs, with a
    compare-and-swap on the record, so a concurrent change makes the task fail rather
    than be overwritten.
  - The file is checked as the scheduler checks it (unit name, syntax, C([X-Fleet])
    options) before anything is written.
  - With O(wait=true) the task then waits until the machines report the state asked for.
author:
  - Corral developers (@corral)
options:
  name:
    description:
      - The unit's name, for example V(web.service), a template V(web@.service) or an
        instance V(web@1.service).
    type: str
    required: true
  content:
    description:
      - The unit file's text.
      - Without O(content) and O(src), the stored file is kept; an instance that was
        never stored gets its template's file.
    type: str
  src:
    description:
      - Path of the unit file on the managed host, read instead of O(content).
    type: path
  state:
    description:
      - V(launched) places and starts the unit; V(loaded) places it without starting
        it (or stops it where it runs); V(inactive) keeps the file in the cluster but
        unloads it everywhere; V(absent) removes the unit from the cluster.
      - A template can only be V(inactive) or V(absent).
    type: str
    choices: [launched, loaded, inactive, absent]
    default: launched
  wait:
    description:
      - Wait until the cluster reports the unit in O(state) (for V(absent), until no
        machine reports it). A global unit is not waited for.
      - The task also waits when nothing had to change.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait before failing; the failure lists what each machine reports.
      - A number of seconds, or a duration as in systemd (C(90s), C(5min), C(1h30m), C(1d)).
    type: raw
    default: 60
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the unit and reports what would change, without writing and without waiting.
  diff_mode:
    support: full
    details:
      - The diff shows the desired state and the unit file before and after.
notes:
  - Units run by the agents' executors (systemd or corral-fleet's process supervisor).
seealso:
  - module: corral.cloud.unit_info
  - module: corral.cloud.machine_info
"""

EXAMPLES = r"""
- name: Run the web server somewhere in the eu region
  corral.cloud.unit:
    endpoint: http://10.0.0.5:2379
    name: web.service
    content: |
      [Unit]
      Description=Web server

      [Service]
      ExecStart=/usr/bin/python3 -m http.server 8080

      [X-Fleet]
      MachineMetadata=region=eu

- name: Store a template from a file on the host, then start two instances
  corral.cloud.unit:
    name: worker@.service
    src: /srv/units/worker@.service
    state: inactive

- name: Start the instances
  corral.cloud.unit:
    name: "worker@{{ item }}.service"
    wait_timeout: 120
  loop: [1, 2]

- name: Stop a unit but leave it placed
  corral.cloud.unit:
    name: web.service
    state: loaded

- name: Remove a unit from the cluster
  corral.cloud.unit:
    name: web.service
    state: absent
"""

RETURN = r"""
unit:
  description: The unit after the task (as it would be, in check mode); null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: The unit's name.
      type: str
      sample: web.service
    contents:
      description: The unit file.
      type: str
    desired:
      description: The desired state stored for the unit.
      type: str
      sample: launched
    hash:
      description: SHA-1 of the unit file, as corralctl and the agents show it.
      type: str
    state:
      description: What the machines report, as fleet's STATE column (launched, loaded, inactive).
      type: str
      sample: launched
    machine:
      description: The machine the engine placed the unit on; null when unplaced or global.
      type: str
    reason:
      description:
        - Why the engine could not place the unit, as C(corralctl unit list) shows it;
          empty when placed.
      type: str
    is_global:
      description: Whether the unit runs on every matching machine.
      type: bool
    states:
      description: Per machine id, the unit's C(load), C(active), C(sub) and C(hash).
      type: dict
      sample: {6f1c2a9e: {load: loaded, active: active, sub: running}}
prev_unit:
  description: The unit record before the task (name, contents, desired, hash); null when absent.
  returned: always
  type: dict
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils import fleet_names as names
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    duration_param,
    read_tree,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.units import (
    ROOT,
    UNITS,
    ClusterView,
    UnitState,
    UnitWanted,
    plan_unit,
)

POLL = 0.5


class UnitModule(StoreModule):
    """One unit record: read, plan with the scheduler's own check, CAS-write, wait."""

    def __init__(self, module: AnsibleModule, contents: str | None) -> None:
        super().__init__(module)
        self.contents = contents
        self.index: int | None = None
        self.view: ClusterView | None = None

    @property
    def subject(self) -> str:
        return f"{UNITS}/{self.module.params['name']}"

    def _record(self, name: str) -> tuple[UnitState | None, int | None]:
        try:
            node = self.client.get(f"{UNITS}/{name}").node
        except KeyNotFound:
            return None, None
        return UnitState.parse(name, node.to_tree()), node.modified_index

    def read(self) -> UnitState | None:
        record, self.index = self._record(self.module.params["name"])
        return record

    def plan(self, before: UnitState | None) -> UnitState | None:
        p = self.module.params
        template = None
        if before is None and self.contents is None and names.is_instance(p["name"]):
            found = self._record(names.template_of(p["name"]))[0]
            template = found.contents if found else None
        wanted = UnitWanted(
            name=p["name"],
            present=p["state"] != "absent",
            desired=p["state"],
            contents=self.contents,
        )
        return plan_unit(before, wanted, template)

    def write(self, before: UnitState | None, after: UnitState | None) -> UnitState | None:
        key = self.subject
        if after is None:
            self.client.delete(key, prev_index=self.index)
        elif before is None:
            self.client.create(key, after.dump())
        else:
            self.client.set(key, after.dump(), prev_index=self.index)
        return after

    def settle(self, after: UnitState | None) -> None:
        p = self.module.params
        desired = None if after is None else after.desired
        deadline = time.monotonic() + p["wait_timeout"]
        while True:
            self.view = ClusterView.of(read_tree(self.client, ROOT, {}))
            if not p["wait"] or self.view.reached(p["name"], desired):
                return
            if time.monotonic() >= deadline:
                seen = self.view.states.get(p["name"]) or "no machine reports it"
                raise Refused(
                    f"unit {p['name']} did not reach {desired or 'absent'} within "
                    f"{p['wait_timeout']:g}s; the cluster reports: {seen}"
                )
            time.sleep(POLL)

    def render(self, state: UnitState | None) -> str:
        return "" if state is None else state.render()

    def report(self, before: UnitState | None, after: UnitState | None) -> dict[str, Any]:
        for problem in self.view.problems if self.view else []:
            self.module.warn(problem)
        unit = None
        if after is not None:
            view = self.view or ClusterView()
            view.units[after.name] = after
            unit = view.describe(after.name)
        return {"unit": unit, "prev_unit": None if before is None else before.as_dict()}


def main() -> None:
    module = store_module(
        {
            "name": {"type": "str", "required": True},
            "content": {"type": "str"},
            "src": {"type": "path"},
            "state": {
                "type": "str",
                "choices": ["launched", "loaded", "inactive", "absent"],
                "default": "launched",
            },
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "raw", "default": 60},
        },
        mutually_exclusive=[("content", "src")],
    )
    p = module.params
    contents = p["content"]
    if p["src"] is not None:
        try:
            with open(p["src"], encoding="utf-8") as f:
                contents = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            module.fail_json(msg=f"cannot read the unit file {p['src']}: {exc}")
    duration_param(module, "wait_timeout")
    if p["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds")
    UnitModule(module, contents).run()


if __name__ == "__main__":
    main()
