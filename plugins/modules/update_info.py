#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.update_info: every machine's update status, holds and bad releases."""

from __future__ import annotations

DOCUMENTATION = r"""
module: update_info
short_description: Show the A/B update status of the machines of a Corral cluster
version_added: 0.1.0
description:
  - Reads what corral-updated publishes in the Corral store, as C(corralctl update status)
    shows it. For each machine its status (update_engine's names such as
    C(UPDATE_STATUS_UPDATED_NEED_REBOOT)), versions, whether it is held, and its pending
    check or reboot requests; for the cluster, the releases marked bad and the reboot lock.
  - A machine's status is the record under its own id, which only its daemon may write;
    one whose C(machine) names another machine is shown as unreadable, with a warning.
  - Each machine reports the channel, strategy and maintenance windows it uses (its
    flags overridden by the settings records that M(corral.cloud.update) writes); the
    records themselves are in RV(config).
  - Records that cannot be read are reported with status C(?).
author:
  - Corral developers (@corral)
options:
  machine:
    description:
      - Only this machine.
    type: str
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
  - corral.cloud.attributes.read_only
seealso:
  - module: corral.cloud.update
  - module: corral.cloud.reboot_lock
"""

EXAMPLES = r"""
- name: Read the update status of the cluster
  corral.cloud.update_info:
    endpoint: http://10.0.0.5:2379
  register: updates

- name: Machines waiting for a reboot
  ansible.builtin.debug:
    msg: >-
      {{ updates.machines | selectattr('status', 'equalto', 'UPDATE_STATUS_UPDATED_NEED_REBOOT')
         | map(attribute='machine') | list }}
"""

RETURN = r"""
machines:
  description: Each machine's status record with C(held), C(check_requested) and
    C(reboot_requested) added, sorted by machine id.
  returned: always
  type: list
  elements: dict
  contains:
    machine:
      description: The machine id.
      type: str
    status:
      description: update_engine's status name.
      type: str
      sample: UPDATE_STATUS_IDLE
    version:
      description: The version running now.
      type: str
    new_version:
      description: The version staged or being installed.
      type: str
    held:
      description: Whether the machine (or every machine) is held.
      type: bool
    check_requested:
      description: Whether a check request is pending.
      type: bool
    reboot_requested:
      description: Whether a reboot request is pending.
      type: bool
    channel:
      description: The mirror channel the machine follows now.
      type: str
      sample: stable
    strategy:
      description: The reboot strategy the machine uses now.
      type: str
      sample: lock
    windows:
      description: The maintenance windows the machine uses now; empty means any time.
      type: list
      elements: str
    defaults:
      description: The daemon's own flags (C(channel), C(strategy), C(windows)), which
        the settings records override.
      type: dict
    config_error:
      description: Why the daemon refused a settings record (it keeps the settings it
        used before); empty when none is refused.
      type: str
config:
  description:
    - The settings records by machine id (V(all) is the cluster's default), each with the
      fields it sets; a record that cannot be read has only C(error).
  returned: always
  type: dict
  sample: {all: {channel: stable, strategy: lock}, m1: {channel: beta}}
held_all:
  description: Whether every machine is held.
  returned: always
  type: bool
bad_releases:
  description: Releases no machine installs until cleared, with why.
  returned: always
  type: list
  elements: dict
lock:
  description:
    - The cluster's reboot lock (C(semaphore), C(max), C(holders)); null when never used.
      Holders are sorted by id here; C(corralctl lock status) shows the order they came in.
  returned: always
  type: dict
"""

import json
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.client import Client, StoreError
from ansible_collections.corral.cloud.plugins.module_utils.connection import describe
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    module_client,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.update_keys import (
    FAILED,
    HOLD_ALL,
    LOCK,
    LOCK_HOLDERS,
    LOCK_MAX,
    REPORTS,
    ROOT,
)
from ansible_collections.corral.cloud.plugins.module_utils.updated_settings import (
    SettingsError,
    parse_settings,
)


def _tree(client: Client) -> dict[str, Any]:
    try:
        tree = client.get(ROOT, recursive=True).node.to_tree()
    except KeyNotFound:
        return {}  # no daemon has published yet
    return tree if isinstance(tree, dict) else {}


def _record(text: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def summarize(tree: dict[str, Any], only: str | None) -> tuple[dict[str, Any], list[str]]:
    """The module's result from the `/_corral/update` tree, and the problems found.

    A status is the machine's its key names (only that machine's daemon may write it,
    as `corral-updater-<id>`); one whose `machine` names another is shown as unreadable,
    never under the name it claims."""

    def section(name: str) -> dict[str, Any]:
        value = tree.get(name)
        return value if isinstance(value, dict) else {}

    holds, requests = section("holds"), section("requests")
    machines = []
    problems = []
    for machine, text in sorted(section("machines").items()):
        if only is not None and machine != only:
            continue
        record = _record(text)
        claimed = record.get("machine", machine) if record else machine
        if claimed != machine:
            problems.append(f"{ROOT}/machines/{machine} claims to be machine {claimed!r:.100}")
            record = None
        record = record or {"status": "?", "error": "unreadable status record"}
        record["machine"] = machine
        pending = requests.get(machine)
        pending = pending if isinstance(pending, dict) else {}
        record.update(
            held=machine in holds or HOLD_ALL in holds,
            check_requested="check" in pending,
            reboot_requested="reboot" in pending,
        )
        machines.append(record)
    bad = []  # every machine's failed reports, then the earlier layout's marks
    for machine, reports in sorted(_at(tree, REPORTS).items()):
        for release_id, text in sorted((reports if isinstance(reports, dict) else {}).items()):
            report = _record(text)
            if report is not None and report.get("verdict") == FAILED:
                bad.append({**report, "machine": machine, "release_id": release_id})
    bad += [_record(text) or {"release_id": name, "reason": "unreadable record"}
            for name, text in sorted(section("bad").items())]  # fmt: skip
    config: dict[str, Any] = {}
    for name, text in sorted(section("config").items()):
        try:
            config[name] = parse_settings(text if isinstance(text, str) else None).as_dict()
        except SettingsError as exc:
            config[name] = {"error": str(exc)}
    return {
        "machines": machines,
        "config": config,
        "held_all": HOLD_ALL in holds,
        "bad_releases": bad,
        "lock": _lock(tree),
    }, problems


def _at(tree: dict[str, Any], key: str) -> dict[str, Any]:
    """The subtree at `key` (under ROOT), empty when absent."""
    node: Any = tree
    for part in key[len(ROOT) + 1 :].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _lock(tree: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster's lock: its size and the holders of a place in it (see
    updated_reboot_lock), with the earlier layout's document."""
    name = LOCK[len(ROOT) + 1 :]
    legacy = _record(tree.get(name))
    size = _at(tree, LOCK_MAX).get(name)
    holders = sorted(h for h, places in _at(tree, LOCK_HOLDERS).items()
                     if isinstance(places, dict) and name in places)  # fmt: skip
    if legacy is None and size is None and not holders:
        return None
    listed = (legacy or {}).get("holders")
    legacy_holders = [h for h in listed if isinstance(h, str)] if isinstance(listed, list) else []
    holders = legacy_holders + [h for h in holders if h not in legacy_holders]
    try:
        max_ = int(size) if size is not None else int((legacy or {}).get("max", 1))
    except (TypeError, ValueError):
        return {"error": f"unreadable size {size!r}", "holders": holders}
    return {"semaphore": max_ - len(holders), "max": max_, "holders": holders}


def main() -> None:
    module = store_module({"machine": {"type": "str"}})
    client = module_client(module)
    try:
        tree = _tree(client)
    except (StoreError, TimeoutError) as exc:
        module.fail_json(msg=describe(exc, client, ROOT))
    else:
        result, problems = summarize(tree, module.params["machine"])
        for problem in problems:
            module.warn(problem)
        module.exit_json(changed=False, **result)
    finally:
        client.close()


if __name__ == "__main__":
    main()
