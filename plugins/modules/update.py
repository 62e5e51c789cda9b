#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.update: hold a machine's updates, or ask it to check or reboot now."""

from __future__ import annotations

DOCUMENTATION = r"""
module: update
short_description: Hold, check or reboot a machine's A/B updates through the Corral store
version_added: 0.1.0
description:
  - Pulls the levers that corral-updated reads from the Corral store, as
    C(corralctl update hold/release/check/reboot) does. The store is written only when
    a lever is not already in the wanted position.
  - A hold keeps the machine at its installed version (no install, no reboot).
  - A check or reboot request is consumed by the machine's daemon when it acts on it;
    a request already pending is not written again.
  - A reboot is asked only of a machine that reports an update staged
    (C(UPDATE_STATUS_UPDATED_NEED_REBOOT)), which is how a play reboots machines whose
    strategy is C(external), one batch at a time.
author:
  - Corral developers (@corral)
options:
  machine:
    description:
      - The machine id. Defaults to the managed host's C(/etc/machine-id).
      - V(all) with O(held) holds or releases every machine at once.
    type: str
  held:
    description:
      - V(true) holds the machine at its installed version; V(false) ends the hold.
        Unset leaves the hold as it is.
    type: bool
  check:
    description:
      - Ask the machine to check its mirror for an update now.
    type: bool
    default: false
  reboot:
    description:
      - Ask the machine to reboot into its staged update now, whatever its strategy and
        maintenance windows say. Fails if nothing is staged or the machine is held.
    type: bool
    default: false
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the levers and the machine's status and reports what would change,
        including a refused reboot, without writing.
  diff_mode:
    support: full
notes:
  - The channel, strategy and maintenance windows are options of the corral-updated
    service on each machine, not store keys; this module does not change them.
seealso:
  - module: corral.cloud.update_info
  - module: corral.cloud.reboot_lock
"""

EXAMPLES = r"""
- name: Hold every machine during the migration
  corral.cloud.update:
    endpoint: http://10.0.0.5:2379
    machine: all
    held: true

- name: Look for an update now on this host
  corral.cloud.update:
    check: true

- name: Reboot staged machines one at a time (strategy external)
  corral.cloud.update:
    machine: "{{ corral_machine_id }}"
    reboot: true
  throttle: 1
"""

RETURN = r"""
levers:
  description: The machine's levers after the task (as they would be, in check mode).
  returned: always
  type: dict
  contains:
    machine:
      description: The machine id, or V(all).
      type: str
    held:
      description: Whether the machine is held.
      type: bool
    check_requested:
      description: Whether a check request is pending.
      type: bool
    reboot_requested:
      description: Whether a reboot request is pending.
      type: bool
prev_levers:
  description: The levers before the task, in the same form as RV(levers).
  returned: always
  type: dict
status:
  description: The machine's corral-updated status record; null when it has none (or for V(all)).
  returned: always
  type: dict
  sample: {status: UPDATE_STATUS_UPDATED_NEED_REBOOT, version: 1.2.0, new_version: 1.3.0}
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    KEY_NOT_FOUND,
    EtcdError,
)
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.update_keys import HOLD_ALL, MACHINES
from ansible_collections.corral.cloud.plugins.module_utils.updates import (
    UpdateLevers,
    UpdateWanted,
    plan_levers,
)


class UpdateModule(StoreModule):
    """One machine's levers: read them, plan, set or delete the keys that differ."""

    def __init__(self, module: AnsibleModule, machine: str) -> None:
        super().__init__(module)
        self.machine = machine
        self.status: dict[str, Any] | None = None

    @property
    def subject(self) -> str:
        return f"machine {self.machine}"

    def _value(self, key: str) -> str | None:
        try:
            return self.client.get(key).node.value
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return None
            raise

    def read(self) -> UpdateLevers:
        keys = UpdateLevers(self.machine).keys()
        present = {lever: self._value(key) is not None for lever, key in keys.items()}
        if self.machine != HOLD_ALL:
            text = self._value(f"{MACHINES}/{self.machine}")
            try:
                status = json.loads(text) if text is not None else None
            except ValueError:
                status = None
            self.status = status if isinstance(status, dict) else None
        return UpdateLevers(self.machine, **present)

    def plan(self, before: UpdateLevers) -> UpdateLevers:
        p = self.module.params
        wanted = UpdateWanted(self.machine, p["held"], p["check"], p["reboot"])
        return plan_levers(before, wanted, self.status)

    def write(self, before: UpdateLevers, after: UpdateLevers) -> UpdateLevers:
        keys = after.keys()
        for lever, value in (("held", "held"), ("check", "requested"), ("reboot", "requested")):
            wanted, current = getattr(after, lever), getattr(before, lever)
            if wanted and not current:
                self.client.set(keys[lever], value)
            elif current and not wanted:
                self.client.delete(keys[lever])
        return after

    def render(self, state: UpdateLevers) -> str:
        return state.render()

    def report(self, before: UpdateLevers | None, after: UpdateLevers | None) -> dict[str, Any]:
        return {
            "levers": None if after is None else after.as_dict(),
            "prev_levers": None if before is None else before.as_dict(),
            "status": self.status,
        }


def _machine_id() -> str | None:
    try:
        with open("/etc/machine-id", encoding="ascii") as f:
            return f.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def main() -> None:
    module = store_module(
        {
            "machine": {"type": "str"},
            "held": {"type": "bool"},
            "check": {"type": "bool", "default": False},
            "reboot": {"type": "bool", "default": False},
        },
    )
    p = module.params
    machine = p["machine"] or _machine_id()
    if machine is None:
        module.fail_json(msg="no /etc/machine-id on this host: give machine")
    if "/" in str(machine):
        module.fail_json(msg=f"machine {machine!r} is not a machine id")
    UpdateModule(module, str(machine)).run()


if __name__ == "__main__":
    main()
