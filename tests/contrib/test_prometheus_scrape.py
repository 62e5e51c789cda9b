"""A real Prometheus (Debian's) scrapes every Corral daemon as the contrib files assume
(jobs corral-store, corral-fleet, corral-updated, corral-mirror): a store, two fleet
agents running a unit, an update engine and a mirror server. Its query API then has
every metric that contrib/prometheus's rules and contrib/grafana's dashboard name, and
every dashboard query is valid PromQL."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.testing import ManagedProcess, StoreServer, free_port, wait_until

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
NAMES = re.compile(r"\b(?:corral|process)_[a-z0-9_]+")
SERVING = re.compile(r"serving (?:metrics|mirror \S+) on (http://\S+)")


def _daemon(base: Path, name: str, *argv: str) -> ManagedProcess:
    process = ManagedProcess([sys.executable, "-m", *argv], base / f"{name}.log",
                             dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
    process.spawn()
    return process


def _url(process: ManagedProcess) -> str:
    """The URL a daemon logged (`serving metrics on URL`, `serving mirror DIR on URL`)."""
    found: list[str] = []

    def logged() -> bool:
        if not process.alive():
            raise AssertionError(process.log_tail())
        found[:] = SERVING.findall(process.log_text())[:1]
        return bool(found)

    wait_until(logged, 30, f"{process.argv[2]}'s URL")
    return found[0]


def _target(url: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    return {"targets": [parts.netloc]}


def _api(base: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{base}/api/v1/{path}{query}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _mirror(base: Path) -> Path:
    """A mirror made with corral-mirror init, signed by a throwaway key."""
    home = base / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "release <release@corral.test>", "ed25519", "sign", "never"],
                   env=env, check=True, capture_output=True, timeout=30)  # fmt: skip
    listed = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env,
                            check=True, capture_output=True, text=True, timeout=30).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines()
                       if line.startswith("fpr:"))  # fmt: skip
    subprocess.run([sys.executable, "-m", "corral.mirror.cli", "--gnupghome", str(home), "init",
                    str(base / "mirror"), "--key", fingerprint],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    (base / "fingerprint").write_text(fingerprint)
    return base / "mirror"


def _stop_units(state_dir: Path) -> None:
    """The process executor's units of a stopped agent: their supervisors and mains."""
    for unit in state_dir.glob("units/*"):
        pids = []
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((unit / "supervisor.pid").read_text()))
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(json.loads((unit / "status.json").read_text())["main_pid"]))
        for pid in filter(None, pids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def daemons(store: StoreServer, tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """Every daemon running, as scrape targets by job."""
    started: list[ManagedProcess] = []
    agents = [tmp_path / f"m{n}" for n in (1, 2)]
    try:
        mirror = _mirror(tmp_path)
        serve = _daemon(tmp_path, "mirror", "corral.mirror.cli", "serve", str(mirror),
                        "--listen", "127.0.0.1:0")  # fmt: skip
        started.append(serve)
        mirror_url = _url(serve)
        for state in agents:
            started.append(_daemon(
                tmp_path, state.name, "corral.fleet", "--endpoint", store.url, "--machine-id",
                state.name, "--executor", "process", "--agent-ttl", "2s", "--state-dir",
                str(state), "--public-ip", "127.0.0.1", "--metrics-listen", "127.0.0.1:0"))
        started.append(_daemon(
            tmp_path, "updated", "corral.updated.cli", "--endpoint", store.url, "--machine-id",
            "u1", "--mirror", mirror_url, "--pin", (tmp_path / "fingerprint").read_text(),
            "--state-dir", str(tmp_path / "updated"), "--slot-dir", str(tmp_path / "slots"),
            "--strategy", "off", "--tick", "0.2", "--metrics-listen", "127.0.0.1:0"))
        urls = [_url(p) for p in started]
        unit = tmp_path / "sleeper.service"
        unit.write_text("[Service]\nExecStart=/bin/sleep 300\n")
        done = subprocess.run([sys.executable, "-m", "corral.ctl.main", "--endpoint", store.url,
                               "unit", "start", "--block-attempts", "60", str(unit)],
                              capture_output=True, text=True, timeout=90)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        yield {"corral-store": [store.url], "corral-mirror": [urls[0]],
               "corral-fleet": urls[1:3], "corral-updated": [urls[3]]}
    finally:
        for process in reversed(started):
            process.stop()
        for state in agents:
            _stop_units(state)


@pytest.fixture
def prometheus(daemons: dict[str, list[str]], tmp_path: Path) -> Iterator[str]:
    assert shutil.which("prometheus"), "prometheus missing: scripts/system-deps.sh installs it"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(CONTRIB / "prometheus" / "corral-rules.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [_target(u) for u in urls]}
            for job, urls in daemons.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = ManagedProcess(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "prometheus.log",
    )  # fmt: skip
    server.spawn()
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not server.alive():
            raise AssertionError(server.log_tail())
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 30, "prometheus ready", interval=0.2)
        yield base
    finally:
        server.stop()


def _named() -> dict[str, set[str]]:
    rules = yaml.safe_load((CONTRIB / "prometheus" / "corral-rules.yml").read_text())
    dashboard = json.loads((CONTRIB / "grafana" / "corral.json").read_text())
    return {
        "rules": {name for group in rules["groups"] for rule in group["rules"]
                  for name in NAMES.findall(rule["expr"])},
        "dashboard": {name for expr in _dashboard_queries(dashboard)
                      for name in NAMES.findall(expr)},
    }  # fmt: skip


def _dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_prometheus_scrapes_every_metric_the_rules_and_the_dashboard_name(
    prometheus: str, daemons: dict[str, list[str]]
) -> None:
    def all_up() -> bool:
        targets = _api(prometheus, "targets")["activeTargets"]
        return len(targets) == 5 and all(t["health"] == "up" for t in targets)

    wait_until(all_up, 30, "every target up", interval=0.5)
    named = _named()
    wanted = named["rules"] | named["dashboard"]
    # each daemon's own metrics are there, not only some of them
    assert {"corral_store", "corral_fleet", "corral_updated", "corral_mirror"} <= {
        "_".join(n.split("_")[:2]) for n in wanted}  # fmt: skip
    missing: set[str] = set()

    def scraped() -> bool:
        missing.clear()
        missing.update(wanted - set(_api(prometheus, "label/__name__/values")))
        return not missing

    try:
        wait_until(scraped, 20, "every named metric scraped", interval=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"never scraped: {sorted(missing)}") from exc
    # the fleet's machines from the engine, both agents' units, one update engine
    machines = _api(prometheus, "query", query="sum(corral_fleet_machines)")["result"]
    assert float(machines[0]["value"][1]) == 2
    status = _api(prometheus, "query", query="sum(corral_updated_status)")["result"]
    assert float(status[0]["value"][1]) == 1  # one state of the state-set is set
    for expr in _dashboard_queries(json.loads((CONTRIB / "grafana" / "corral.json").read_text())):
        _api(prometheus, "query", query=expr)  # a query Prometheus refuses fails here

    def rules_evaluate() -> bool:  # the rules load and run on these series
        groups = _api(prometheus, "rules")["groups"]
        return bool(groups) and all(r["health"] == "ok" for g in groups for r in g["rules"])

    wait_until(rules_evaluate, 10, "every rule evaluated", interval=0.5)
