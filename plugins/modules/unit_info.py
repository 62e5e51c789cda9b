#!/usr/bin/python
# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Module corral.cloud.unit_info: the units of a Corral cluster and where they run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: unit_info
short_description: List the units of a Corral cluster and their states
version_added: 0.1.0
description:
  - Lists the units stored in the Corral cluster with their desired state, the machine
    the corral-fleet engine placed them on and what each live machine reports, as
    C(corralctl unit files) and C(corralctl unit list) show them.
  - Records that cannot be read are left out.
author:
  - Corral developers (@corral)
options:
  name:
    description:
      - Only this unit. A unit that does not exist gives an empty list.
    type: str
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.attributes
  - corral.cloud.attributes.action_group
  - corral.cloud.attributes.read_only
seealso:
  - module: corral.cloud.unit
"""

EXAMPLES = r"""
- name: Where does the web server run
  corral.cloud.unit_info:
    endpoint: http://10.0.0.5:2379
    name: web.service
  register: web

- name: Show its machine
  ansible.builtin.debug:
    msg: "{{ web.units[0].machine }}"
"""

RETURN = r"""
units:
  description: The units, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The unit's name.
      type: str
      sample: web.service
    contents:
      description: The unit file.
      type: str
    desired:
      description: The desired state (launched, loaded or inactive).
      type: str
    hash:
      description: SHA-1 of the unit file.
      type: str
    state:
      description: What the machines report, as fleet's STATE column (launched, loaded, inactive).
      type: str
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
"""

from ansible_collections.corral.cloud.plugins.module_utils.client import StoreError
from ansible_collections.corral.cloud.plugins.module_utils.connection import describe
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.store_module import (
    module_client,
    store_module,
)
from ansible_collections.corral.cloud.plugins.module_utils.units import ROOT, ClusterView


def main() -> None:
    module = store_module({"name": {"type": "str"}})
    client = module_client(module)
    try:
        tree = client.get(ROOT, recursive=True).node.to_tree()
    except KeyNotFound:
        tree = {}  # nothing submitted and no machine registered yet
    except (StoreError, TimeoutError) as exc:
        module.fail_json(msg=describe(exc, client, ROOT))
    finally:
        client.close()
    view = ClusterView.of(tree)
    for problem in view.problems:
        module.warn(problem)
    wanted = module.params["name"]
    units = [view.describe(name) for name in sorted(view.units) if wanted in (None, name)]
    module.exit_json(changed=False, units=units)


if __name__ == "__main__":
    main()
