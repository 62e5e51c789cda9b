#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.machine: drain a machine of a Corral cluster, or undrain it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: machine
short_description: Drain or undrain a machine of a Corral cluster, change its metadata
version_added: 0.1.0
description:
  - Marks a machine drained or not in its record in the Corral store, as
    C(corralctl machine drain/undrain) does. The corral-fleet engine places no unit on a
    drained machine (global units included) and moves the units it ran to the other
    machines; its agent stops them there.
  - Changes the machine's metadata at runtime, as C(corralctl machine set-metadata)
    does; the engine then places units by the new metadata. The agent keeps the change
    across its heartbeats; when it starts again its C(--metadata) flag defines the
    metadata anew.
  - The record is written only when its C(drained) or C(metadata) fields differ, with a
    compare-and-swap that keeps the rest of the record and its time to live, so the
    agent's heartbeat keeps owning it.
  - The machine must be alive (its agent registered it); a record that claims another
    machine's id is refused.
author:
  - Corral developers (@corral)
options:
  machine:
    description:
      - The machine id. Defaults to the managed host's C(/etc/machine-id).
    type: str
  state:
    description:
      - V(drained) takes every unit away from the machine; V(undrained) lets the engine
        place units on it again. Unset leaves the drain as it is.
      - One of O(state) and O(metadata) is required.
    type: str
    choices: [drained, undrained]
  metadata:
    description:
      - Metadata keys to set, names to values; a key whose value is null or empty is
        removed. Keys not named are kept.
      - Each pair must be one corral-fleet's C(--metadata) flag accepts (no comma in
        the value), or nothing is written.
    type: dict
  wait:
    description:
      - With O(state=drained), wait until the machine has finished draining, that is
        until no unit is placed on it and it reports no unit running (active,
        activating or deactivating). Units it reports stopped or failed do not count.
      - The task also waits when the machine was already drained. Ignored with
        O(state=undrained), where nothing is to be waited for.
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait before failing; the failure names the units still on the machine.
      - A number of seconds, or a duration as in systemd (C(90s), C(5min), C(1h30m), C(1d)).
    type: raw
    default: 300
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the record and reports what would change, without writing and without waiting.
  diff_mode:
    support: full
    details:
      - The diff shows the machine record before and after (JSON, keys sorted).
seealso:
  - module: corral.cloud.machine_info
  - module: corral.cloud.unit
  - plugin: corral.cloud.machines
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Move every unit away from this host before maintenance
  corral.cloud.machine:
    state: drained
    wait: true
    wait_timeout: 600

- name: Let the engine place units on it again
  corral.cloud.machine:
    state: undrained

- name: Move this host to the eu region and drop its canary mark
  corral.cloud.machine:
    metadata:
      region: eu
      canary: null

- name: Drain a machine by id from the controller
  corral.cloud.machine:
    endpoint: http://10.0.0.5:2379
    machine: 6f1c2a9e04d34b7c9a3f5d2e1b0c8a7f
    state: drained
  delegate_to: localhost
"""

RETURN = r"""
machine:
  description:
    - The machine after the task (as it would be, in check mode), as
      M(corral.cloud.machine_info) lists it.
  returned: always
  type: dict
  contains:
    id:
      description: The machine id.
      type: str
    drained:
      description: Whether the machine is drained.
      type: bool
    hostname:
      description: The host name its agent registered.
      type: str
    ip:
      description: The address its agent registered.
      type: str
    metadata:
      description: Its metadata, names to values.
      type: dict
    version:
      description: The corral-fleet version its agent runs.
      type: str
    units:
      description: Per unit, the C(load), C(active) and C(sub) states the machine reports.
      type: dict
prev_drained:
  description: Whether the machine was drained before the task.
  returned: always
  type: bool
units:
  description:
    - The units still placed on the machine or running on it after the task, sorted;
      empty once a drain with O(wait=true) has finished.
  returned: always
  type: list
  elements: str
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import (
    KeyNotFound,
    TestFailed,
)
from ansible_collections.corral.cloud.plugins.module_utils.machine_drain import (
    check_metadata,
    encode,
    is_drained,
    machine_key,
    parse_record,
    render,
    units_on,
    with_drained,
    with_metadata,
)
from ansible_collections.corral.cloud.plugins.module_utils.machines import machine_host
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    duration_param,
    local_machine_id,
    read_tree,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.units import ROOT, ClusterView

POLL = 0.5
# The agent's heartbeat rewrites the record every few seconds: a compare-and-swap that
# loses to it is tried again on the new record, as many times as corralctl does.
CAS_ATTEMPTS = 20


class MachineModule(StoreModule):
    """One machine record: read, set `drained`, CAS-write keeping the TTL, wait."""

    def __init__(
        self, module: AnsibleModule, machine_id: str, metadata: dict[str, str | None]
    ) -> None:
        super().__init__(module)
        self.machine_id = machine_id
        self.metadata = metadata
        self.index = 0
        self.ttl: int | None = None
        self.view = ClusterView()

    @property
    def subject(self) -> str:
        return f"/_corral/machines/{self.machine_id}"

    @property
    def drained(self) -> bool:
        return bool(self.module.params["state"] == "drained")

    def read(self) -> dict[str, Any]:
        try:
            node = self.client.get(machine_key(self.machine_id)).node
        except KeyNotFound as exc:
            raise Refused(
                f"no live machine {self.machine_id} ({self.subject} does not exist: its "
                "agent is not running, or the id is wrong)"
            ) from exc
        self.index, self.ttl = node.modified_index, node.ttl
        # what check mode reports as still there
        self.view = ClusterView.of(read_tree(self.client, ROOT, {}))
        return parse_record(self.machine_id, node.to_tree())

    def plan(self, before: dict[str, Any]) -> dict[str, Any]:
        after = with_metadata(before, self.metadata)
        return after if self.module.params["state"] is None else with_drained(after, self.drained)

    def write(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        for _attempt in range(CAS_ATTEMPTS):
            try:
                self.client.set(self.subject, encode(after), ttl=self.ttl or None,
                                prev_index=self.index)  # fmt: skip
                return after
            except TestFailed:
                pass
            after = self.plan(self.read())
        raise Refused(f"{self.subject} kept changing ({CAS_ATTEMPTS} attempts); try again")

    def settle(self, after: dict[str, Any]) -> None:
        p = self.module.params
        deadline = time.monotonic() + p["wait_timeout"]
        while True:
            self.view = ClusterView.of(read_tree(self.client, ROOT, {}))
            left = units_on(self.view, self.machine_id)
            if not (self.drained and p["wait"]) or not left:
                return
            if time.monotonic() >= deadline:
                raise Refused(
                    f"machine {self.machine_id} did not finish draining within "
                    f"{p['wait_timeout']:g}s; still placed on it or running: {', '.join(left)}"
                )
            time.sleep(POLL)

    def render(self, state: dict[str, Any] | None) -> str:
        return render(state)

    def report(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
        host, problems = machine_host(self.subject, self.machine_id, encode(after or {}))
        for problem in problems:
            self.module.warn(problem)
        machine: dict[str, Any] = host.as_dict() if host else {"id": self.machine_id}
        machine["units"] = {
            name: {k: v for k, v in states[self.machine_id].items() if k != "hash"}
            for name, states in sorted(self.view.states.items())
            if self.machine_id in states
        }
        return {
            "machine": machine,
            "prev_drained": before is not None and is_drained(before),
            "units": units_on(self.view, self.machine_id),
        }


def main() -> None:
    module = store_module(
        {
            "machine": {"type": "str"},
            "state": {"type": "str", "choices": ["drained", "undrained"]},
            "metadata": {"type": "dict"},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "raw", "default": 300},
        },
        required_one_of=[("state", "metadata")],
    )
    machine_id = module.params["machine"] or local_machine_id()
    if not machine_id:
        module.fail_json(msg="no machine given and this host has no /etc/machine-id")
    duration_param(module, "wait_timeout")
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds")
    try:  # checked before anything is read or written
        metadata = check_metadata(module.params["metadata"] or {})
    except Refused as exc:
        module.fail_json(msg=f"{exc}; nothing was written")
    else:
        MachineModule(module, str(machine_id), metadata).run()


if __name__ == "__main__":
    main()
