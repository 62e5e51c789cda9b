#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.update: steer a machine's updates (channel, strategy, windows), hold
them, or ask it to check or reboot now."""

from __future__ import annotations

DOCUMENTATION = r"""
module: update
short_description: Steer, hold, check or reboot a machine's A/B updates through the Corral store
version_added: 0.1.0
description:
  - Pulls the levers that corral-updated reads from the Corral store, as
    C(corralctl update set/hold/release/check/reboot) does. The store is written only when
    a lever is not already in the wanted position.
  - O(channel), O(strategy) and O(windows) are written to the machine's settings record
    (or, with O(machine=all), the cluster's default), which corral-updated applies over
    its own command-line flags within one tick of its loop (a second by default). The
    flags come first, then the cluster's default, then the machine's record, field by
    field. Options left unset keep what the record holds. The daemon reports the settings it
    uses in its status (RV(levers.effective), M(corral.cloud.update_info)).
  - A new channel is checked at once. The mirror's trust rules still hold; a release
    with a lower version than the installed one is refused unless its channel allows
    downgrade.
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
      - V(all) with O(held) holds or releases every machine at once; with O(channel),
        O(strategy) or O(windows) it sets the cluster's default, which each machine's
        own settings override.
    type: str
  channel:
    description:
      - The mirror channel to follow, such as V(stable) or V(beta), in lower-case letters,
        digits, C(.), C(_) and C(-).
    type: str
  strategy:
    description:
      - How a staged update reboots the machine. V(reboot) at once (inside a window),
        V(lock) after taking the cluster's reboot lock (inside a window), V(off) never
        by itself, V(external) only when asked (O(reboot), or
        C(corralctl update reboot)).
      - Quote V(off) in YAML, which otherwise reads it as false.
    type: str
    choices: [reboot, lock, "off", external]
  windows:
    description:
      - Maintenance windows in which the machine may reboot, each written
        C(DAYS START LENGTH [ZONE]) as corral-updated's C(--window) takes it, for
        example C(Mon-Fri 02:00 2h Europe/Berlin) or C(daily 04:00 90m).
      - An empty list means any time. Every window is checked before anything is written.
    type: list
    elements: str
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
      - Without O(wait), the task ends once the request is in the store, before the
        machine acts on it.
    type: bool
    default: false
  wait:
    description:
      - With O(reboot), wait until the machine has rebooted into the staged version,
        its health gate passed (its history records C(good) for the version) and it
        reports C(UPDATE_STATUS_IDLE) on it. Fails as soon as it records C(rollback)
        for the version instead.
      - The machine reboots meanwhile, so run the task where it keeps running, on the
        controller (C(delegate_to) V(localhost)) with O(machine) and O(endpoint) given.
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait with O(wait) before failing.
      - A number of seconds, or a duration as in systemd (C(90s), C(5min), C(1h30m), C(1d)).
    type: raw
    default: 600
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
seealso:
  - module: corral.cloud.update_info
  - module: corral.cloud.reboot_lock
"""

EXAMPLES = r"""
- name: Every machine follows the beta channel and reboots at night, one at a time
  corral.cloud.update:
    endpoint: http://10.0.0.5:2379
    machine: all
    channel: beta
    strategy: lock
    windows:
      - Mon-Fri 02:00 2h Europe/Berlin

- name: This host follows stable and reboots only when a play asks
  corral.cloud.update:
    channel: stable
    strategy: external

- name: Hold every machine during the migration
  corral.cloud.update:
    endpoint: http://10.0.0.5:2379
    machine: all
    held: true

- name: Look for an update now on this host
  corral.cloud.update:
    check: true

# From the controller, so the task outlives the reboot; throttle 1 runs it for one
# host at a time, and each waits for its machine to be back on the new version.
# playbooks/rolling_update.yml also drains each machine (corral.cloud.machine) first.
- name: Reboot staged machines one at a time (strategy external)
  corral.cloud.update:
    endpoint: http://10.0.0.5:2379
    machine: "{{ corral_machine_id }}"
    reboot: true
    wait: true
  delegate_to: localhost
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
    config:
      description: The settings record of the machine (or of V(all)), with the fields it sets.
      type: dict
      sample: {channel: beta, strategy: lock, windows: [Mon-Fri 02:00 2h Europe/Berlin]}
    config_error:
      description: Why the record in the store could not be read; empty when it could.
      type: str
    effective:
      description:
        - The C(channel), C(strategy) and C(windows) the machine uses with these levers,
          its daemon's flags, the cluster's default, then its own record. A value is
          null when not known (the daemon has not published its flags yet). For V(all),
          the cluster's default alone.
      type: dict
      sample: {channel: beta, strategy: lock, windows: []}
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
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    duration_param,
    local_machine_id,
    read_tree,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.update_keys import (
    CONFIG,
    HISTORY,
    HOLD_ALL,
    MACHINES,
)
from ansible_collections.corral.cloud.plugins.module_utils.update_verdict import (
    entry_names,
    rebooted,
)
from ansible_collections.corral.cloud.plugins.module_utils.updated_policy import STRATEGIES
from ansible_collections.corral.cloud.plugins.module_utils.updated_settings import (
    Settings,
    SettingsError,
    parse_settings,
    settings_from,
)
from ansible_collections.corral.cloud.plugins.module_utils.updates import (
    UpdateLevers,
    UpdateWanted,
    plan_levers,
)

POLL = 1.0  # seconds between reads while waiting: a reboot takes many


class UpdateModule(StoreModule):
    """One machine's levers: read them, plan, set or delete the keys that differ."""

    def __init__(self, module: AnsibleModule, machine: str, config: Settings) -> None:
        super().__init__(module)
        self.machine = machine
        self.config = config
        self.status: dict[str, Any] | None = None
        self.history_before: set[str] = set()

    @property
    def subject(self) -> str:
        return f"machine {self.machine}"

    def _value(self, key: str) -> str | None:
        try:
            return self.client.get(key).node.value
        except KeyNotFound:
            return None

    def _settings(self, key: str) -> tuple[Settings, str]:
        """The record at `key` (empty when absent) and why it is unreadable, if it is."""
        text = self._value(key)
        try:
            return (Settings() if text is None else parse_settings(text)), ""
        except SettingsError as exc:
            return Settings(), str(exc)

    def _status(self) -> Any:
        text = self._value(f"{MACHINES}/{self.machine}")
        try:
            return json.loads(text) if text is not None else None
        except ValueError:
            return None

    def read(self) -> UpdateLevers:
        keys = UpdateLevers(self.machine).keys()
        if self.module.params["wait"] and self.module.params["reboot"]:
            # entries before the request say nothing about this reboot
            history = read_tree(self.client, f"{HISTORY}/{self.machine}")
            self.history_before = entry_names(history)
        present = {lever: self._value(keys[lever]) is not None
                   for lever in ("held", "check", "reboot")}  # fmt: skip
        config, error = self._settings(keys["config"])
        below = Settings()
        if self.machine != HOLD_ALL:
            text = self._value(f"{MACHINES}/{self.machine}")
            try:
                status = json.loads(text) if text is not None else None
            except ValueError:
                status = None
            self.status = status if isinstance(status, dict) else None
            if text is not None and self.status is None:
                self.module.warn(f"{MACHINES}/{self.machine} is not a status record, ignored: "
                                 f"{text!r:.100}")  # fmt: skip
            try:
                flags = settings_from((self.status or {}).get("defaults") or {})
            except (SettingsError, TypeError, ValueError):
                flags = Settings()  # a daemon too old or odd to say: effective unknown
            below = self._settings(f"{CONFIG}/{HOLD_ALL}")[0].over(flags)
        return UpdateLevers(self.machine, **present, config=config, config_error=error,
                            below=below)  # fmt: skip

    def plan(self, before: UpdateLevers) -> UpdateLevers:
        p = self.module.params
        wanted = UpdateWanted(self.machine, p["held"], p["check"], p["reboot"], self.config)
        return plan_levers(before, wanted, self.status)

    def write(self, before: UpdateLevers, after: UpdateLevers) -> UpdateLevers:
        keys = after.keys()
        if (after.config, after.config_error) != (before.config, before.config_error):
            self.client.set(keys["config"], after.config.encode())
        for lever, value in (("held", "held"), ("check", "requested"), ("reboot", "requested")):
            wanted, current = getattr(after, lever), getattr(before, lever)
            if wanted and not current:
                self.client.set(keys[lever], value)
            elif current and not wanted:
                self.client.delete(keys[lever])
        return after

    def settle(self, after: UpdateLevers) -> None:
        p = self.module.params
        if not (p["wait"] and p["reboot"]):
            return
        version = str((self.status or {}).get("new_version") or "")
        deadline = time.monotonic() + p["wait_timeout"]
        while True:
            history = read_tree(self.client, f"{HISTORY}/{self.machine}")
            status = self._status()
            if rebooted(self.machine, version, status, history, self.history_before):
                self.status = status
                return
            if time.monotonic() >= deadline:
                now = status if isinstance(status, dict) else {}
                raise Refused(
                    f"machine {self.machine} was not back on {version} within "
                    f"{p['wait_timeout']:g}s (it reports {now.get('status', 'no status')} on "
                    f"{now.get('version', '?')})"
                )
            time.sleep(POLL)

    def render(self, state: UpdateLevers) -> str:
        return state.render()

    def report(self, before: UpdateLevers | None, after: UpdateLevers | None) -> dict[str, Any]:
        return {
            "levers": None if after is None else after.as_dict(),
            "prev_levers": None if before is None else before.as_dict(),
            "status": self.status,
        }


def main() -> None:
    module = store_module(
        {
            "machine": {"type": "str"},
            "held": {"type": "bool"},
            "check": {"type": "bool", "default": False},
            "reboot": {"type": "bool", "default": False},
            "channel": {"type": "str"},
            "strategy": {"type": "str", "choices": list(STRATEGIES)},
            "windows": {"type": "list", "elements": "str"},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "raw", "default": 600},
        },
    )
    p = module.params
    machine = p["machine"] or local_machine_id()
    if machine is None:
        module.fail_json(msg="no /etc/machine-id on this host: give machine")
    if "/" in str(machine):
        module.fail_json(msg=f"machine {machine!r} is not a machine id")
    duration_param(module, "wait_timeout")
    if p["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds")
    try:  # checked before anything is read or written
        config = settings_from({f: p[f] for f in ("channel", "strategy", "windows")})
    except SettingsError as exc:
        module.fail_json(msg=f"{exc}; nothing was written")
    else:
        UpdateModule(module, str(machine), config).run()


if __name__ == "__main__":
    main()
