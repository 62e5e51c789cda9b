#!/usr/bin/env python3
"""Write the roles' systemd unit and environment-file templates from the package's own
files (daemons/corral/units/), so that a role installs the unit `--print-unit` prints.

Each template is its package file line for line, with `# {{ ansible_managed }}` on top
and the values of a few `KEY=` lines replaced by the role's variables (paths, user,
the command line); a key named here must be in the file once, so a change there cannot
leave a role behind silently. `--check` writes nothing and exits 1 when a template
differs from what this script would write (the test suite runs it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "daemons" / "corral" / "units"

_UPDATED_ARGS = """\
{% set args = ['--endpoint', update_engine_endpoint, '--state-dir', update_engine_state_dir,
               '--mirror', update_engine_mirror, '--channel', update_engine_channel,
               '--threshold', update_engine_threshold | string, '--interval', update_engine_interval,
               '--strategy', update_engine_strategy, '--slots', update_engine_slots,
               '--slot-dir', update_engine_slot_dir] %}
{% for pin in update_engine_pins %}{% set _ = args.extend(['--pin', pin]) %}{% endfor %}
{% for window in update_engine_windows %}{% set _ = args.extend(['--window', window]) %}{% endfor %}
{% if update_engine_product %}{% set _ = args.extend(['--product', update_engine_product]) %}{% endif %}
{% if update_engine_initial_version %}{% set _ = args.extend(['--initial-version', update_engine_initial_version]) %}{% endif %}
{% if update_engine_machine_id %}{% set _ = args.extend(['--machine-id', update_engine_machine_id]) %}{% endif %}
{% if update_engine_metrics_listen %}{% set _ = args.extend(['--metrics-listen', update_engine_metrics_listen]) %}{% endif %}
{% if update_engine_ca_file %}{% set _ = args.extend(['--ca-file', update_engine_ca_file]) %}{% endif %}
{% if update_engine_cert_file %}{% set _ = args.extend(['--cert-file', update_engine_cert_file, '--key-file', update_engine_key_file]) %}{% endif %}
{% if update_engine_username %}{% set _ = args.extend(['--username', update_engine_username, '--password-file', update_engine_password_file]) %}{% endif %}
{% set _ = args.extend(update_engine_extra_args) %}
"""  # noqa: E501

_STORE_OPTS = (
    "--data-dir {{ store_data_dir }} --listen-client-urls {{ _store_urls | join(',') }}"
    " --backend {{ store_backend }}{% if store_backend == 'etcd' %} --etcd-endpoints"
    " {{ store_etcd_endpoints | join(',') }} --etcd-max-request-bytes"
    " {{ store_etcd_max_request_bytes }}{% if store_etcd_ca_file %} --etcd-ca-file"
    " {{ store_etcd_ca_file }}{% endif %}{% if store_etcd_cert_file %} --etcd-cert-file"
    " {{ store_etcd_cert_file }} --etcd-key-file {{ store_etcd_key_file }}{% endif %}"
    "{% endif %}{% if store_tls %} --cert-file {{ store_tls_cert_file }} --key-file"
    " {{ store_tls_key_file }}{% if store_tls_client_cert_auth %} --trusted-ca-file"
    " {{ store_tls_ca_file }} --client-cert-auth{% endif %}{% endif %}"
    "{% if store_listen_metrics_urls %} --listen-metrics-urls"
    " {{ store_listen_metrics_urls | join(',') }}{% endif %}"
)

_FLEET_OPTS = (
    "--endpoint {{ fleet_endpoint }} --executor {{ fleet_executor }} --agent-ttl"
    " {{ fleet_agent_ttl }} --state-dir {{ fleet_state_dir }} --log-level"
    " {{ fleet_log_level }} {{ '--engine' if fleet_engine else '--no-engine' }}"
    "{% if fleet_machine_id %} --machine-id {{ fleet_machine_id }}{% endif %}"
    "{% if fleet_metrics_listen %} --metrics-listen {{ fleet_metrics_listen }}{% endif %}"
    "{% if fleet_public_ip %} --public-ip {{ fleet_public_ip }}{% endif %}"
    "{% if fleet_metadata %} --metadata {% for key, value in fleet_metadata | dictsort %}"
    "{{ key }}={{ value }}{{ '' if loop.last else ',' }}{% endfor %}{% endif %}"
    "{% if fleet_ca_file %} --ca-file {{ fleet_ca_file }}{% endif %}"
    "{% if fleet_cert_file %} --cert-file {{ fleet_cert_file }} --key-file"
    " {{ fleet_key_file }}{% endif %}{% if fleet_username %} --username {{ fleet_username }}"
    " --password-file {{ fleet_password_file }}{% endif %}"
)


@dataclass(frozen=True)
class Template:
    """roles/<role>/templates/<name> from the package file `source`."""

    role: str
    name: str
    source: str
    values: dict[str, str | None]  # KEY -> the role's value (None: the line is dropped)
    preamble: str = ""  # Jinja statements before the first line
    why: dict[str, str] = field(default_factory=dict)  # KEY -> comment above the new line

    @property
    def path(self) -> Path:
        return ROOT / "roles" / self.role / "templates" / self.name


TEMPLATES = (
    Template("store", "corral-store.service.j2", "corral-store.service", {
        "Description": "Corral store: the etcd v2 keys API ({{ store_backend }} backend)",
        "WatchdogSec": "{{ store_watchdog_sec }}",
        "User": "{{ store_user }}",
        "Group": "{{ store_user }}",
        "EnvironmentFile": "{{ store_config_dir }}/store.env",
        "ExecStart": "{{ store_install_dir }}/venv/bin/corral-store $CORRAL_STORE_OPTS",
        "ReadWritePaths": "{{ store_data_dir }}",
    }),
    Template("store", "store.env.j2", "corral-store.env", {"CORRAL_STORE_OPTS": _STORE_OPTS}),
    Template("fleet", "corral-fleet.service.j2", "corral-fleet.service", {
        "WatchdogSec": "{{ fleet_watchdog_sec }}",
        "EnvironmentFile": "{{ fleet_config_dir }}/fleet.env",
        "ExecStart": "{{ fleet_install_dir }}/venv/bin/corral-fleet $CORRAL_FLEET_OPTS",
    }),
    Template("fleet", "fleet.env.j2", "corral-fleet.env", {"CORRAL_FLEET_OPTS": _FLEET_OPTS}),
    Template("update_engine", "corral-updated.service.j2", "corral-updated.service", {
        "WatchdogSec": "{{ update_engine_watchdog_sec }}",
        "EnvironmentFile": None,
        "ExecStart": "{{ update_engine_install_dir }}/venv/bin/corral-updated{% for arg in"
                     " args %} \"{{ arg | string | replace('\\\\', '\\\\\\\\')"
                     " | replace('\"', '\\\\\"') | replace('%', '%%') }}\"{% endfor %}",
    }, preamble=_UPDATED_ARGS, why={
        "ExecStart": "# Each argument double-quoted (windows hold spaces); % is systemd's"
                     " specifier prefix.",
    }),
    Template("mirror", "corral-mirror.service.j2", "corral-mirror.service", {
        "EnvironmentFile": None,
        "ExecStart": "{{ mirror_install_dir }}/venv/bin/corral-mirror serve --listen"
                     " 0.0.0.0:{{ mirror_listen_port }} {{ mirror_dir }}",
    }),
)

HEADER = (
    "# {{ ansible_managed }}\n"
    "# Written by scripts/role_units.py from daemons/corral/units/%s:\n"
    "# change that file (or the role's values in the script), then run the script.\n"
)


class DriftError(Exception):
    """A key the script replaces is not in its package file exactly once."""


def render(template: Template, source: str) -> str:
    """The role's template: `source` with the role's values."""
    out = [HEADER % template.source, template.preamble]
    seen: dict[str, int] = {}
    for line in source.splitlines():
        key, sep, _ = line.partition("=")
        if not sep or line.startswith("#") or key not in template.values:
            out.append(line + "\n")
            continue
        seen[key] = seen.get(key, 0) + 1
        value = template.values[key]
        if value is None:
            continue
        if key in template.why:
            out.append(template.why[key] + "\n")
        # a line ending in a Jinja tag loses its newline (trim_blocks): keep one
        out.append(f"{key}={value}\n" + ("\n" if value.endswith("%}") else ""))
    wrong = sorted(k for k in template.values if seen.get(k) != 1)
    if wrong:
        raise DriftError(f"{template.source}: {', '.join(wrong)} not there exactly once"
                         f" (the role {template.role} replaces them)")  # fmt: skip
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a template would change")  # fmt: skip
    args = parser.parse_args(argv)
    stale = []
    for template in TEMPLATES:
        try:
            text = render(template, (UNITS / template.source).read_text(encoding="utf-8"))
        except DriftError as exc:
            print(f"role_units: {exc}", file=sys.stderr)
            return 1
        current = template.path.read_text(encoding="utf-8") if template.path.exists() else ""
        if text == current:
            continue
        stale.append(template.path.relative_to(ROOT))
        if not args.check:
            template.path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("role_units: out of date (run scripts/role_units.py): "
              + ", ".join(map(str, stale)), file=sys.stderr)  # fmt: skip
        return 1
    for path in stale:
        print(f"role_units: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
