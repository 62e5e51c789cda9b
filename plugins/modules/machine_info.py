#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.machine_info: the machines of a Corral cluster and their units."""

from __future__ import annotations

DOCUMENTATION = r"""
module: machine_info
short_description: List the machines of a Corral cluster
version_added: 0.1.0
description:
  - Lists the machines whose corral-fleet agents are alive, as registered in the
    Corral store, with their metadata and the state of the units running on them.
  - Records that cannot be read are skipped with a warning, as are values in them that
    are no host name, address or text (as the corral.cloud.machines inventory does).
  - A machine's id is the key of its record, never the C(id) written inside it; a
    record that claims another machine's id is skipped with a warning.
author:
  - Corral developers (@corral)
options:
  machine:
    description:
      - Only the machine with this id.
    type: str
  metadata:
    description:
      - Only machines whose metadata has all these keys with these values.
    type: dict
    default: {}
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
  - corral.cloud.attributes.read_only
seealso:
  - plugin: corral.cloud.machines
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Machines in the eu region
  corral.cloud.machine_info:
    endpoint: http://10.0.0.5:2379
    metadata:
      region: eu
  register: eu

- name: Their addresses
  ansible.builtin.debug:
    msg: "{{ eu.machines | map(attribute='ip') | list }}"
"""

RETURN = r"""
machines:
  description: The machines, sorted by id.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The machine id.
      type: str
      sample: 6f1c2a9e0d8b4c7e
    hostname:
      description: The host name the agent reported.
      type: str
    ip:
      description: The address the agent registered.
      type: str
      sample: 10.0.0.7
    metadata:
      description: The machine's metadata.
      type: dict
      sample: {region: eu, disk: ssd}
    drained:
      description: Whether the machine takes no new units.
      type: bool
    version:
      description: The agent's version.
      type: str
    units:
      description: Units on the machine, each with its C(load), C(active) and C(sub) state.
      type: dict
      sample: {app.service: {load: loaded, active: active, sub: running}}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    StoreError,
)
from ansible_collections.corral.cloud.plugins.module_utils.connection import describe
from ansible_collections.corral.cloud.plugins.module_utils.machines import (
    MACHINES,
    STATES,
    read_machines,
)
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    module_client,
    read_tree,
    store_module,
)


def main() -> None:
    module = store_module(
        {
            "machine": {"type": "str"},
            "metadata": {"type": "dict", "default": {}},
        }
    )
    client = module_client(module)
    key = MACHINES
    try:
        machines = read_tree(client, MACHINES, {})
        key = STATES
        states = read_tree(client, STATES, {})
    except (StoreError, TimeoutError) as exc:
        module.fail_json(msg=describe(exc, client, key))
    else:
        module.exit_json(changed=False, machines=_selected(module, machines, states))
    finally:
        client.close()


def _selected(module: AnsibleModule, machines: Any, states: Any) -> list[dict[str, Any]]:
    """The machines the module's options ask for, as it returns them."""
    hosts, problems = read_machines(machines, states)
    for problem in problems:
        module.warn(problem)
    wanted_id = module.params["machine"]
    wanted_metadata = {str(k): str(v) for k, v in module.params["metadata"].items()}
    return [
        host.as_dict()
        for host in hosts
        if (wanted_id is None or host.id == wanted_id)
        and all(host.metadata.get(k) == v for k, v in wanted_metadata.items())
    ]


if __name__ == "__main__":
    main()
