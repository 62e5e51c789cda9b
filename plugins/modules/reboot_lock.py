#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.reboot_lock: a place in the cluster's reboot semaphore, and its size."""

from __future__ import annotations

DOCUMENTATION = r"""
module: reboot_lock
short_description: Take or give back a place in the Corral reboot lock, or set its size
version_added: 0.1.0
description:
  - The reboot lock is locksmith's semaphore, kept by corral-updated in the Corral store;
    each holder has its own key C(/_corral/update/reboot-lock/holders/<holder>/<lock>),
    and its size is C(/_corral/update/reboot-lock/max/<lock>), which only an operator's
    credentials (C(corral-admin)) may write. At most C(max) machines hold it, and only
    holders reboot. This module changes it as C(corralctl lock) does, and only when
    something has to change. A machine's own updater credentials may take or give back
    that machine's place only.
  - A place taken here is kept alive by a heartbeat key with a TTL (O(ttl)), as a place
    taken by hand with C(corralctl lock lock); once it expires, a machine that finds the
    lock full drops it.
author:
  - Corral developers (@corral)
options:
  state:
    description:
      - V(locked) takes a place for O(holder) (kept if it already holds one);
        V(unlocked) gives it back (nothing to do if it holds none).
      - Without O(state), only O(max) is set.
      - When no place is free, holders whose heartbeat has expired are dropped first
        (their keys deleted, which needs an operator's credentials); if that frees none,
        the task fails and names the holders.
    type: str
    choices: [locked, unlocked]
  holder:
    description:
      - Who holds the place. Defaults to the managed host's C(/etc/machine-id), the id
        corral-updated holds the lock with.
    type: str
  group:
    description:
      - A group's lock (named C(lock-groups/<group>)) instead of the cluster's
        (named C(lock)).
    type: str
  max:
    description:
      - How many machines may hold the lock at once. Set before O(state) is applied.
    type: int
  ttl:
    description:
      - How long the heartbeat of a place taken with O(state=locked) lasts. It is written
        when the place is taken, not on runs that find it already held.
      - A number of seconds, or a duration as in systemd (C(90s), C(5min), C(1h30m), C(1d)).
    type: raw
    default: 3600
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the semaphore and reports what would change, including a full lock that
        would make the task fail, without writing.
  diff_mode:
    support: full
notes:
  - A machine rebooting with strategy C(lock) takes and releases its own place; use this
    module to reserve places around maintenance done by a play, or to resize the lock.
seealso:
  - module: corral.cloud.machine_info
"""

EXAMPLES = r"""
- name: Let two machines reboot at once
  corral.cloud.reboot_lock:
    endpoint: http://10.0.0.5:2379
    max: 2

- name: Hold a place while this host is serviced
  corral.cloud.reboot_lock:
    state: locked
    ttl: 1800

- name: Give it back
  corral.cloud.reboot_lock:
    state: unlocked

- name: Hold a place in the database group's lock for a named holder
  corral.cloud.reboot_lock:
    group: db
    holder: maintenance-window-42
    state: locked
"""

RETURN = r"""
lock:
  description: The semaphore after the task (as it would be, in check mode).
  returned: always
  type: dict
  contains:
    semaphore:
      description: How many more holders may enter.
      type: int
      sample: 0
    max:
      description: How many may hold it at once.
      type: int
      sample: 1
    holders:
      description: Who holds it.
      type: list
      elements: str
      sample: [6f1c2a9e0d8b4c7e]
prev_lock:
  description: The semaphore before the task, in the same form as RV(lock).
  returned: always
  type: dict
key:
  description: The key of the lock's size in the store.
  returned: always
  type: str
  sample: /_corral/update/reboot-lock/max/lock
holder:
  description: The holder the task acted for (null when only O(max) was set).
  returned: always
  type: str
"""

import json
import math
from dataclasses import replace
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    duration_param,
    local_machine_id,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.update_keys import ALIVE
from ansible_collections.corral.cloud.plugins.module_utils.updated_reboot_lock import (
    LockContended,
    RebootLock,
)
from ansible_collections.corral.cloud.plugins.module_utils.updated_semaphore import (
    Semaphore,
    SemaphoreError,
)


class RebootLockModule(StoreModule):
    """One semaphore: read, apply the change to a copy, write through RebootLock."""

    def __init__(self, module: AnsibleModule, holder: str | None) -> None:
        super().__init__(module)
        self.holder = holder
        self.lock = RebootLock(self.client, module.params["group"])

    @property
    def subject(self) -> str:
        return self.lock.key

    def read(self) -> Semaphore:
        try:
            return self.lock.read()
        except SemaphoreError as exc:
            raise Refused(f"{self.lock.key}: {exc}") from exc

    def plan(self, before: Semaphore) -> Semaphore:
        p = self.module.params
        after = replace(before, holders=list(before.holders))
        try:
            if p["max"] is not None and p["max"] != after.max:
                after.set_max(p["max"])
        except SemaphoreError as exc:
            raise Refused(str(exc)) from exc
        if p["state"] == "unlocked":
            after.release(str(self.holder))
        elif p["state"] == "locked" and self.holder not in after.holders:
            if after.semaphore <= 0:
                after.drop(self.lock.expired_holders(after))
            if not after.acquire(str(self.holder)):
                raise Refused(
                    f"reboot lock {self.lock.name} is full (max {after.max}, held by "
                    f"{', '.join(after.holders) or 'nobody'}): {self.holder} cannot take a place"
                )
        return after

    def write(self, before: Semaphore, after: Semaphore) -> Semaphore:
        p = self.module.params
        try:
            if p["max"] is not None and p["max"] != before.max:
                self.lock.set_max(p["max"])
            if p["state"] == "unlocked":
                self.lock.release(str(self.holder))
            elif p["state"] == "locked":
                self.client.set(f"{ALIVE}/{self.holder}", "held by Ansible", ttl=p["ttl"])
                for gone in set(before.holders) - set(after.holders):  # expired: dropped
                    self.lock.release(gone)
                if not self.lock.acquire(str(self.holder)):
                    raise Refused(f"{self.lock.key} filled up: {self.holder} got no place")
            return self.lock.read()
        except (SemaphoreError, LockContended) as exc:
            raise Refused(f"{self.lock.key}: {exc}") from exc

    def render(self, state: Semaphore) -> str:
        return json.dumps(_as_dict(state), indent=2, sort_keys=True) + "\n"

    def report(self, before: Semaphore | None, after: Semaphore | None) -> dict[str, Any]:
        return {
            "lock": None if after is None else _as_dict(after),
            "prev_lock": None if before is None else _as_dict(before),
            "key": self.lock.key,
            "holder": self.holder if self.module.params["state"] else None,
        }


def _as_dict(sem: Semaphore) -> dict[str, Any]:
    return {"semaphore": sem.semaphore, "max": sem.max, "holders": list(sem.holders)}


def main() -> None:
    module = store_module(
        {
            "state": {"type": "str", "choices": ["locked", "unlocked"]},
            "holder": {"type": "str"},
            "group": {"type": "str"},
            "max": {"type": "int"},
            "ttl": {"type": "raw", "default": 3600},
        },
        required_one_of=[("state", "max")],
    )
    p = module.params
    holder = p["holder"]
    if p["state"] is not None and not holder:
        holder = local_machine_id()
        if holder is None:
            module.fail_json(msg="no /etc/machine-id on this host: give holder")
    duration_param(module, "ttl")
    p["ttl"] = math.ceil(p["ttl"])  # the store's TTLs are whole seconds
    if p["ttl"] < 1:
        module.fail_json(msg="ttl must be at least 1 second")
    if p["group"] is not None and (not p["group"] or "/" in p["group"]):
        module.fail_json(msg=f"group {p['group']!r} must be a non-empty name without '/'")
    RebootLockModule(module, holder).run()


if __name__ == "__main__":
    main()
