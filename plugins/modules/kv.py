#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.kv: a key or directory in the store, present or absent."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kv
short_description: Set or delete a key or directory in the Corral store
version_added: 0.1.0
description:
  - Makes a key of the Corral store (etcd v2 keys API) hold a value, be a directory,
    or not exist. The store is written only when the key differs from what is asked.
  - Writes can be made conditional on the current value or modification index
    (compare-and-swap), and keys can expire after a TTL.
  - Deleting never needs the old value.
author:
  - Corral developers (@corral)
options:
  key:
    description:
      - The key, for example V(/config/app/port). A leading V(/) is added if missing.
    type: str
    required: true
  state:
    description:
      - V(present) makes the key hold O(value) (or be a directory with O(dir)).
      - V(absent) deletes it; a key that does not exist is left alone.
    type: str
    choices: [present, absent]
    default: present
  value:
    description:
      - The value the key must hold. Required with O(state=present) unless O(dir=true).
      - With O(value_format=text), a string, or a number written as YAML wrote it
        (V(8080)); a dict, a list or a boolean is refused, never stored as Python
        would print it. Quote V("true") to store the word.
    type: raw
  value_format:
    description:
      - How O(value) is written. V(text) as it is. V(json) as compact JSON with
        sorted keys (a string becomes a quoted JSON string); a key already holding
        JSON for the same data, however formatted, is left alone.
    type: str
    choices: [text, json]
    default: text
  dir:
    description:
      - Make the key a directory instead of a value.
    type: bool
    default: false
  ttl:
    description:
      - How long until the key (or directory) expires from the store, rounded up to
        whole seconds.
      - A number of seconds, or a duration as in systemd (C(90s), C(5min), C(1h30m), C(1d)).
      - The key is written again when it has no TTL yet or its value changes. A run
        that finds the same value already expiring leaves it alone, so the TTL is
        not extended by repeated runs.
      - Without O(ttl), a key that has a TTL is made permanent.
    type: raw
  recursive:
    description:
      - With O(state=absent), delete a directory with everything under it.
        Without it, deleting a non-empty directory fails.
    type: bool
    default: false
  prev_value:
    description:
      - Change or delete the key only if it currently holds this value. If the
        condition does not hold, the task fails and nothing is written.
      - A key already in the wanted state is left alone whatever its value was.
    type: str
  prev_index:
    description:
      - Change or delete the key only if it was last modified at this index
        (the RV(node.modified_index) returned by this module or M(corral.cloud.kv_info)).
    type: int
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the key and reports what would change, including a failed compare,
        without writing. A key changed by someone else in between can still make
        the real run fail its compare.
  diff_mode:
    support: full
notes:
  - Keys whose names start with V(_) are hidden from directory listings, as in etcd.
seealso:
  - module: corral.cloud.kv_info
  - plugin: corral.cloud.kv
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Set the port of the app
  corral.cloud.kv:
    endpoint: http://10.0.0.5:2379
    key: /config/app/port
    value: "8080"

- name: Announce this host for 60 seconds
  corral.cloud.kv:
    key: "/services/web/{{ inventory_hostname }}"
    value: "{{ ansible_host }}"
    ttl: 60

- name: Promote a new version only if the old one is still current
  corral.cloud.kv:
    key: /config/app/version
    value: "2.0"
    prev_value: "1.9"

- name: Store a dict as JSON
  corral.cloud.kv:
    key: /config/app/settings
    value:
      port: 8080
      hosts: [a, b]
    value_format: json

- name: Remove a whole directory
  corral.cloud.kv:
    key: /config/old-app
    state: absent
    recursive: true

- name: Set the endpoint once for every corral.cloud module
  module_defaults:
    group/corral.cloud.corral:
      endpoint: http://10.0.0.5:2379
  block:
    - name: Make a directory
      corral.cloud.kv:
        key: /config/app
        dir: true
"""

RETURN = r"""
node:
  description: The key after the task (as it would be, in check mode); null when absent.
  returned: always
  type: dict
  contains:
    key:
      description: The key's full name.
      type: str
      sample: /config/app/port
    value:
      description: The value (keys only).
      type: str
      sample: "8080"
    dir:
      description: Whether the key is a directory.
      type: bool
      sample: false
    ttl:
      description: Seconds left before the key expires; null when it does not expire.
      type: int
      sample: 60
    content:
      description: A directory's content as a dict of names to values (directories only).
      type: dict
      sample: {}
    modified_index:
      description: The store index of the key's last change (0 for a prediction in check mode).
      type: int
      sample: 42
prev_node:
  description: The key before the task, in the same form as RV(node); null when it did not exist.
  returned: always
  type: dict
  sample:
    key: /config/app/port
    value: "8000"
    dir: false
    ttl: null
    modified_index: 17
"""

import math
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.kv_state import (
    KeyState,
    KeyWanted,
    plan_key,
    same_json,
    value_text,
)
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    StoreModule,
    duration_param,
    store_module,
)


class KeyModule(StoreModule):
    """One key: read it, plan it with the pure core, write it if needed."""

    # The text to write (`value` as value_format gives it), set when the key is read.
    text: str | None = None

    @property
    def subject(self) -> str:
        return self.wanted.key

    @property
    def wanted(self) -> KeyWanted:
        p = self.module.params
        key = p["key"] if p["key"].startswith("/") else "/" + p["key"]
        return KeyWanted(
            key=key,
            present=p["state"] == "present",
            value=self.text,
            dir=p["dir"],
            ttl=p["ttl"],
            recursive=p["recursive"],
            prev_value=p["prev_value"],
            prev_index=p["prev_index"],
        )

    def read(self) -> KeyState | None:
        p = self.module.params
        self.text = None if p["value"] is None else value_text(p["value"], p["value_format"])
        try:
            # A recursive delete reads the whole tree, so --diff shows what goes.
            w = self.wanted
            whole = not w.present and w.recursive
            return KeyState.of(self.client.get(w.key, recursive=whole, sorted=True).node)
        except KeyNotFound:
            return None

    def plan(self, before: KeyState | None) -> KeyState | None:
        p = self.module.params
        json_format = p["value_format"] == "json"
        if before is not None and json_format and same_json(before.value, p["value"]):
            self.text = before.value  # the same data: kept as it is formatted
        return plan_key(before, self.wanted)

    def differs(self, before: Any, after: Any) -> bool:
        return before is not after

    def write(self, before: KeyState | None, after: KeyState | None) -> KeyState | None:
        w = self.wanted
        if after is None:
            is_dir = before is not None and before.dir
            self.client.delete(
                w.key,
                recursive=w.recursive and is_dir,
                dir=is_dir,
                prev_value=w.prev_value,
                prev_index=w.prev_index,
            )
            return None
        if w.dir:
            result = self.client.set_dir(w.key, ttl=w.ttl, prev_exist=before is not None)
        else:
            result = self.client.set(
                w.key, w.value or "", ttl=w.ttl, prev_value=w.prev_value, prev_index=w.prev_index
            )
        return KeyState.of(result.node)

    def render(self, state: KeyState | None) -> str:
        return "" if state is None else state.render()

    def report(self, before: KeyState | None, after: KeyState | None) -> dict[str, Any]:
        return {
            "node": None if after is None else after.as_dict(),
            "prev_node": None if before is None else before.as_dict(),
        }


def main() -> None:
    module = store_module(
        {
            "key": {"type": "str", "required": True, "no_log": False},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "value": {"type": "raw"},
            "value_format": {"type": "str", "choices": ["text", "json"], "default": "text"},
            "dir": {"type": "bool", "default": False},
            "ttl": {"type": "raw"},
            "recursive": {"type": "bool", "default": False},
            "prev_value": {"type": "str"},
            "prev_index": {"type": "int"},
        },
    )
    p = module.params
    duration_param(module, "ttl")
    if p["ttl"] is not None:
        p["ttl"] = math.ceil(p["ttl"])  # the store's TTLs are whole seconds
    if p["state"] == "present" and not p["dir"] and p["value"] is None:
        module.fail_json(msg="value is required with state=present, unless dir=true")
    if p["dir"] and p["value"] is not None:
        module.fail_json(msg="a directory has no value: give either dir=true or value")
    KeyModule(module).run()


if __name__ == "__main__":
    main()
