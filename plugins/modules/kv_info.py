#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.kv_info: read a key or directory, on the managed host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kv_info
short_description: Read a key or directory of the Corral store
version_added: 0.1.0
description:
  - Reads a key of the Corral store (etcd v2 keys API) from the managed host.
  - A missing key is not an error; RV(exists) says whether it was found.
author:
  - Corral developers (@corral)
options:
  key:
    description:
      - The key to read, for example V(/config/app). A leading V(/) is added if missing.
    type: str
    required: true
  recursive:
    description:
      - For a directory, read everything under it; without it, subdirectories are
        returned empty.
    type: bool
    default: false
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
  - corral.cloud.attributes.read_only
seealso:
  - module: corral.cloud.kv
  - plugin: corral.cloud.kv
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Read the app's configuration directory
  corral.cloud.kv_info:
    endpoint: http://10.0.0.5:2379
    key: /config/app
    recursive: true
  register: app

- name: Use it
  ansible.builtin.debug:
    msg: "port {{ app.content.port }}, version index {{ app.node.modified_index }}"
  when: app.exists
"""

RETURN = r"""
exists:
  description: Whether the key exists.
  returned: always
  type: bool
  sample: true
value:
  description: The key's value; null for a directory or a missing key.
  returned: always
  type: str
  sample: "8080"
content:
  description: A directory's content as nested dicts of names to values; null otherwise.
  returned: always
  type: dict
  sample: {port: "8080", tls: {cert: "/etc/app/cert.pem"}}
node:
  description: The key as the kv module returns it; null when missing.
  returned: always
  type: dict
  contains:
    key:
      description: The key's full name.
      type: str
    value:
      description: The value (keys only).
      type: str
    dir:
      description: Whether the key is a directory.
      type: bool
    ttl:
      description: Seconds left before the key expires; null when it does not expire.
      type: int
    content:
      description: A directory's content (directories only).
      type: dict
    modified_index:
      description:
        - The store index of the key's last change, for O(corral.cloud.kv#module:prev_index).
      type: int
"""

from ansible_collections.corral.cloud.plugins.module_utils.client import KeyNode, StoreError
from ansible_collections.corral.cloud.plugins.module_utils.connection import describe
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.kv_state import KeyState
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    module_client,
    store_module,
)


def main() -> None:
    module = store_module(
        {
            "key": {"type": "str", "required": True, "no_log": False},
            "recursive": {"type": "bool", "default": False},
        }
    )
    key = module.params["key"]
    key = key if key.startswith("/") else "/" + key
    client = module_client(module)
    node: KeyNode | None = None
    try:
        node = client.get(key, recursive=module.params["recursive"], sorted=True).node
    except KeyNotFound:
        pass  # absent: node stays None
    except (StoreError, TimeoutError) as exc:
        module.fail_json(msg=describe(exc, client, key))
    finally:
        client.close()
    if node is None:
        module.exit_json(changed=False, exists=False, value=None, content=None, node=None)
    state = KeyState.of(node)
    module.exit_json(
        changed=False,
        exists=True,
        value=state.value,
        content=state.content if state.dir else None,
        node=state.as_dict(),
    )


if __name__ == "__main__":
    main()
