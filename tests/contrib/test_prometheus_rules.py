"""contrib/prometheus's alerting rules: valid for Prometheus (Debian's promtool), each
alert firing on the series it is meant for (promtool's rule unit tests), and naming
only metrics the daemons export (the Grafana dashboard too)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from corral.fleet import metrics as fleet_metrics
from corral.mirror import metrics as mirror_metrics
from corral.store import metrics as store_metrics
from corral.updated import metrics as updated_metrics

RULES = Path(__file__).resolve().parents[2] / "contrib" / "prometheus"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("promtool"), "promtool missing: scripts/system-deps.sh installs it"
    return subprocess.run(["promtool", *args], cwd=RULES, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_rules_are_valid() -> None:
    done = _promtool("check", "rules", "corral-rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_fires_on_its_series() -> None:
    done = _promtool("test", "rules", "corral-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def _exported(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can export (labelled ones before any is set)."""
    return {family.name + suffix for family in registry.collect()
            for suffix in ("", *SUFFIXES.get(family.type, ()))}  # fmt: skip


def _all_exported() -> set[str]:
    """Every daemon's series names (an Info's end in _info)."""
    names = set().union(*(_exported(m.REGISTRY) for m in (
        fleet_metrics, mirror_metrics, store_metrics, updated_metrics)))  # fmt: skip
    return names | {name + "_info" for name in names}


def test_rules_name_only_exported_metrics() -> None:
    exported = _all_exported()
    rules = yaml.safe_load((RULES / "corral-rules.yml").read_text())
    named = {name for group in rules["groups"] for rule in group["rules"]
             for name in re.findall(r"\bcorral_\w+", rule["expr"])}  # fmt: skip
    assert named and named <= exported, named - exported


def test_dashboard_names_only_exported_metrics() -> None:
    exported = _all_exported()
    dashboard = json.loads((RULES.parent / "grafana" / "corral.json").read_text())
    named = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
             for name in re.findall(r"\b(?:corral|process)_\w+", target["expr"])}  # fmt: skip
    assert named and named <= exported, named - exported
