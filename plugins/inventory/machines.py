# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Inventory corral.cloud.machines: the machines of a Corral cluster as hosts."""

from __future__ import annotations

DOCUMENTATION = r"""
name: machines
short_description: Hosts from the machine registry of a Corral cluster
version_added: 0.1.0
description:
  - Lists the machines whose corral-fleet agents are alive, as registered in the
    Corral store under the hidden directory C(/_corral/machines), one host each.
  - Each machine's metadata gives groups, for example C(region=eu) puts it in group
    C(region_eu).
  - Host variables give the machine id, address, metadata and the state of the units
    running on it (C(corral_machine_id), C(corral_hostname), C(corral_ip),
    C(corral_metadata), C(corral_drained), C(corral_version), C(corral_units));
    O(compose), O(groups) and O(keyed_groups) can build more.
  - A machine is named by the key of its record, C(/_corral/machines/<id>), which the
    store's roles let only that machine's agent write, never by the C(id) written inside
    the record; a record claiming another machine's id is skipped with a warning.
  - What the store holds is checked as untrusted input. A record that is no JSON object,
    a directory where a record belongs, a host name or address that is none, metadata
    that is not text or too long for a group name are skipped, each with one warning.
  - The configuration file must end in C(corral.yml) or C(corral.yaml).
author:
  - Corral developers (@corral)
options:
  plugin:
    description: The name of this plugin; it marks the file as this plugin's.
    required: true
    type: str
    choices: [corral.cloud.machines]
  hostnames:
    description:
      - What names the hosts, in order of preference, among V(id), V(hostname) and V(ip).
      - The default, the machine id, is unique and does not change; C(ansible_host)
        carries the address.
      - When several machines would get the same name (clones sharing a hostname),
        each of them is named by its machine id instead.
    type: list
    elements: str
    default: [id]
  metadata_group_prefix:
    description:
      - Put in front of the groups made from metadata, with an underscore.
    type: str
    default: ""
  max_name_length:
    description:
      - The longest group name made from a metadata pair (C(key_value), before
        O(metadata_group_prefix)) and the longest version; a pair or version longer
        than this is left out of the groups and host variables, with a warning.
      - Group names are made of letters, digits and underscores (Ansible's rule), any
        other character becomes an underscore.
    type: int
    default: 128
  use_ip_as_ansible_host:
    description:
      - Set C(ansible_host) to the address the machine registered.
    type: bool
    default: true
extends_documentation_fragment:
  - corral.cloud.connection
  - corral.cloud.connection.plugins
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
notes:
  - A machine appears as long as its agent's heartbeat key has not expired.
  - Of the variables such as C(corral_endpoint), only extra variables
    (C(-e corral_endpoint=...)) reach an inventory; host and group variables do not
    exist yet when it is read. Set the connection in this file, in the environment, in
    C(ansible.cfg) or as extra variables.
  - Every option above applies; O(compose), O(groups), O(keyed_groups), O(strict),
    O(leading_separator) and O(use_extra_vars) work on the host variables listed in the
    description, and the cache options keep what the store answered.
seealso:
  - plugin: corral.cloud.kv
    plugin_type: lookup
"""

EXAMPLES = r"""
# prod.corral.yml: every machine of the cluster, grouped by metadata (region_eu, ...),
# named by hostname, with more groups built from host variables, cached ten minutes.
# The smallest file is its first two lines.
plugin: corral.cloud.machines
endpoint: https://store.example.com:2379
ca_cert: /etc/corral/ca.pem
hostnames: [hostname, id]
metadata_group_prefix: meta
keyed_groups:
  - key: corral_version
    prefix: version
groups:
  drained: corral_drained
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/cache/ansible/corral
cache_timeout: 600
"""

from typing import Any

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.corral.cloud.plugins.module_utils.client import Client, StoreError
from ansible_collections.corral.cloud.plugins.module_utils.connection import (
    client_for,
    describe,
)
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import KeyNotFound
from ansible_collections.corral.cloud.plugins.module_utils.machines import (
    MACHINES,
    STATES,
    MachineHost,
    assign_names,
    read_machines,
)

CONNECTION = ("endpoint", "ca_cert", "client_cert", "client_key",
              "validate_certs", "timeout", "username", "password")  # fmt: skip
HOSTNAME_SOURCES = ("hostname", "id", "ip")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "corral.cloud.machines"

    def verify_file(self, path: str) -> bool:
        # Ansible's base method has no annotations: it says whether the file is readable
        readable: bool = super().verify_file(path)  # type: ignore[no-untyped-call]
        return readable and path.endswith(("corral.yml", "corral.yaml"))

    def parse(
        self, inventory: InventoryData, loader: Any, path: str, cache: bool = True
    ) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        preference = self.get_option("hostnames")
        unknown = sorted(set(preference) - set(HOSTNAME_SOURCES))
        if unknown:
            raise AnsibleParserError(
                f"{path}: hostnames can only be {', '.join(HOSTNAME_SOURCES)}, not {unknown}"
            )

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        trees: dict[str, Any] | None = None
        if use_cache:
            try:
                trees = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if trees is None:
            trees = self._fetch()
        if update_cache:
            self._cache[cache_key] = trees

        max_name = self.get_option("max_name_length")
        if max_name < 1:
            raise AnsibleParserError(f"{path}: max_name_length must be at least 1")
        hosts, problems = read_machines(trees["machines"], trees["states"], max_name)
        for problem in problems:
            self.display.warning(f"corral.cloud.machines: {problem}")
        for name, host in assign_names(hosts, preference).items():
            self._add(inventory, name, host)

    def _fetch(self) -> dict[str, Any]:
        """The machines and states trees, read once from the store."""
        options = {name: self.get_option(name) for name in CONNECTION}
        try:
            client = client_for(options)
        except StoreError as exc:
            raise AnsibleParserError(f"corral.cloud.machines: {exc}") from exc
        try:
            return {"machines": _tree(client, MACHINES), "states": _tree(client, STATES)}
        finally:
            client.close()

    def _add(self, inventory: InventoryData, name: str, host: MachineHost) -> None:
        inventory.add_host(name)
        host_vars = host.host_vars()
        if self.get_option("use_ip_as_ansible_host") and host.ip:
            host_vars["ansible_host"] = host.ip
        for var, value in host_vars.items():
            inventory.set_variable(name, var, value)
        for group in host.metadata_groups(self.get_option("metadata_group_prefix")):
            inventory.add_group(group)
            inventory.add_child(group, name)
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict)


def _tree(client: Client, key: str) -> Any:
    """A directory as nested dicts (a key as its value); a missing one (no machine
    yet) is empty."""
    try:
        tree = client.get(key, recursive=True).node.to_tree()
    except KeyNotFound:
        return {}
    except (StoreError, TimeoutError) as exc:
        raise AnsibleParserError(f"corral.cloud.machines: {describe(exc, client, key)}") from exc
    return tree
