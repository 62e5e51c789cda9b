# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""How every corral.cloud plugin reaches the store: one set of documented options.

DOCUMENTATION is what modules and lookups share; PLUGINS adds the controller-side
channels (environment, ansible.cfg, variables) that only lookups and inventories read.
The environment variables are the ones corralctl and the daemons read.
"""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - URL of the store's etcd v2 API, for example V(http://10.0.0.5:2379).
      - Several URLs separated by commas are tried in order; reads move on to the next
        when one cannot be reached, writes only when the connection was refused.
      - When not set, the environment variable E(CORRAL_ENDPOINT) of the host running
        the plugin, else V(http://127.0.0.1:2379).
      - A URL with credentials in it (V(http://user:password@host)) is refused, with an
        error that does not show them; give O(username) and O(password) instead.
    type: str
  ca_cert:
    description:
      - PEM file of the certificate authorities trusted for an V(https) endpoint.
      - When not set, the environment variable E(CORRAL_CA_FILE) of the host running
        the plugin (as for C(corralctl --ca-file)), else the system's trust store.
        E(CORRAL_CA_CERT) is read too, with a deprecation warning.
    type: path
  client_cert:
    description:
      - PEM file of a client certificate presented to an V(https) endpoint.
      - When not set, the environment variable E(CORRAL_CERT_FILE) of the host running
        the plugin (E(CORRAL_CLIENT_CERT) is read too, with a deprecation warning).
    type: path
  client_key:
    description:
      - PEM file of the private key of O(client_cert), when it is not in that file.
      - When not set, the environment variable E(CORRAL_KEY_FILE) of the host running
        the plugin (E(CORRAL_CLIENT_KEY) is read too, with a deprecation warning).
    type: path
  validate_certs:
    description:
      - Whether the server's TLS certificate is verified. Turn it off only for tests.
    type: bool
    default: true
  timeout:
    description:
      - How long to wait for an answer from the store. A number of seconds, or a
        duration as in systemd (C(500ms), C(90s), C(5min), C(1h30m)).
    type: raw
    default: 5
  username:
    description:
      - User name for HTTP basic authentication, when the store asks for it
        (C(corralctl auth enable) turned authentication on).
    type: str
  password:
    description:
      - Password for HTTP basic authentication.
      - Never logged or shown in task output (modules declare it C(no_log)). Keep it in
        Ansible Vault or the environment variable E(CORRAL_PASSWORD), not in a playbook.
      - When not set and O(username) is, the first line of the file named by the
        environment variable E(CORRAL_PASSWORD_FILE) of the host running the plugin,
        else E(CORRAL_PASSWORD), as for corralctl and the daemons.
    type: str
"""

    PLUGINS = r"""
options:
  endpoint:
    env:
      - name: CORRAL_ENDPOINT
    ini:
      - section: corral
        key: endpoint
    vars:
      - name: corral_endpoint
  ca_cert:
    env:
      - name: CORRAL_CA_CERT
        deprecated:
          why: one name for every Corral tool, matching corralctl's --ca-file flag
          version: 1.0.0
          collection_name: corral.cloud
          alternatives: CORRAL_CA_FILE
      - name: CORRAL_CA_FILE  # last: it wins when both are set
    ini:
      - section: corral
        key: ca_cert
    vars:
      - name: corral_ca_cert
  client_cert:
    env:
      - name: CORRAL_CLIENT_CERT
        deprecated:
          why: one name for every Corral tool, matching corralctl's --cert-file flag
          version: 1.0.0
          collection_name: corral.cloud
          alternatives: CORRAL_CERT_FILE
      - name: CORRAL_CERT_FILE  # last: it wins when both are set
    ini:
      - section: corral
        key: client_cert
    vars:
      - name: corral_client_cert
  client_key:
    env:
      - name: CORRAL_CLIENT_KEY
        deprecated:
          why: one name for every Corral tool, matching corralctl's --key-file flag
          version: 1.0.0
          collection_name: corral.cloud
          alternatives: CORRAL_KEY_FILE
      - name: CORRAL_KEY_FILE  # last: it wins when both are set
    ini:
      - section: corral
        key: client_key
    vars:
      - name: corral_client_key
  validate_certs:
    env:
      - name: CORRAL_VALIDATE_CERTS
    ini:
      - section: corral
        key: validate_certs
    vars:
      - name: corral_validate_certs
  timeout:
    env:
      - name: CORRAL_TIMEOUT
    ini:
      - section: corral
        key: timeout
    vars:
      - name: corral_timeout
  username:
    env:
      - name: CORRAL_USERNAME
    ini:
      - section: corral
        key: username
    vars:
      - name: corral_username
  password:
    # No env entry: the client reads $CORRAL_PASSWORD_FILE, then $CORRAL_PASSWORD, in
    # that order for every Corral tool.
    vars:
      - name: corral_password
"""
