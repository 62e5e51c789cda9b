"""The systemd units and environment-file samples shipped in the Python package: what
`--print-unit` and `--print-env` print, and the same files the Ansible roles install
(their templates are written from them by scripts/role_units.py)."""

from __future__ import annotations

import fnmatch
import importlib.util
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import ModuleType

import jinja2
import pytest
import yaml

from corral import units
from corral.commands import build

REPO = Path(__file__).resolve().parents[3]
# daemon -> how to run it (module) and the words before its options in ExecStart
DAEMONS = {
    "corral-store": (["corral.store.cli"], []),
    "corral-fleet": (["corral.fleet"], []),
    "corral-updated": (["corral.updated.cli"], []),
    "corral-mirror": (["corral.mirror.cli", "serve"], ["serve"]),
}


def _run(daemon: str, flag: str) -> str:
    module, _ = DAEMONS[daemon]
    done = subprocess.run([sys.executable, "-m", module[0], *module[1:], flag],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def _settings(unit: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.splitlines()
                if "=" in line and not line.startswith("#"))  # fmt: skip


@pytest.mark.parametrize("daemon", DAEMONS)
def test_print_unit_gives_a_notify_unit_running_this_installation(
    daemon: str, tmp_path: Path
) -> None:
    unit = _run(daemon, "--print-unit")
    (tmp_path / f"{daemon}.service").write_text(unit)
    verified = subprocess.run(["systemd-analyze", "verify", str(tmp_path / f"{daemon}.service")],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr  # systemd's word
    settings = _settings(unit)
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"].endswith("s") and settings["Restart"] == "on-failure"
    command = Path(settings["ExecStart"].split()[0])
    # a venv's (or pip's) own script, which exists: copied as is, the unit starts it
    assert command == Path(sysconfig.get_path("scripts")) / daemon and command.exists()
    assert unit == units.for_installation(units.text(f"{daemon}.service"), str(command.parent))


@pytest.mark.parametrize("daemon", DAEMONS)
def test_print_env_gives_the_options_the_unit_reads_and_the_daemon_accepts(daemon: str) -> None:
    sample = _run(daemon, "--print-env")
    unit = _settings(_run(daemon, "--print-unit"))
    (name, value), = _settings(sample).items()
    assert unit["EnvironmentFile"].startswith("/etc/corral/")
    assert unit["ExecStart"].endswith(f" ${name}")  # systemd splits it into arguments
    words = [*DAEMONS[daemon][1], *shlex.split(value)]
    build(daemon).parse_args(words)  # a sample that does not parse exits 2 here


def _role_units() -> ModuleType:
    spec = importlib.util.spec_from_file_location("role_units", REPO / "scripts" / "role_units.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_roles_install_the_package_units() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "role_units.py"), "--check"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_role_template_edited_by_hand_or_left_behind_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    role_units = _role_units()
    shutil.copytree(REPO / "roles", tmp_path / "roles")
    shutil.copytree(REPO / "daemons" / "corral" / "units", tmp_path / "units")
    monkeypatch.setattr(role_units, "ROOT", tmp_path)
    monkeypatch.setattr(role_units, "UNITS", tmp_path / "units")
    assert role_units.main(["--check"]) == 0

    template = tmp_path / "roles" / "fleet" / "templates" / "corral-fleet.service.j2"
    template.write_text(template.read_text().replace("Restart=on-failure", "Restart=always"))
    assert role_units.main(["--check"]) == 1
    assert "roles/fleet/templates/corral-fleet.service.j2" in capsys.readouterr().err
    assert role_units.main([]) == 0  # written again from the package's unit
    assert "Restart=on-failure" in template.read_text()

    unit = tmp_path / "units" / "corral-updated.service"
    unit.write_text(unit.read_text().replace("ExecStart=", "ExecStartPre="))
    assert role_units.main([]) == 1
    assert "ExecStart not there exactly once" in capsys.readouterr().err


def test_every_unit_and_sample_is_package_data() -> None:
    """pip installs them (a wheel carries only the data pyproject.toml names)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["corral.units"]
    files = [p.name for p in Path(units.__file__).parent.iterdir()
             if p.suffix in (".service", ".env")]  # fmt: skip
    assert sorted(files) == sorted(f"{d}{s}" for d in DAEMONS for s in (".service", ".env"))
    assert all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in files)


# what a play must give the roles beyond their defaults
REQUIRED = {"update_engine_mirror": "http://mirror.test:8080", "update_engine_pins": ["AB" * 20],
            "update_engine_windows": ["Mon 02:00 1h"]}


def _settings_lines(text: str, replaced: set[str]) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")
            and line.partition("=")[0] not in replaced]  # fmt: skip


@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_role_renders_the_package_unit_with_its_own_values(daemon: str) -> None:
    """As Ansible renders it (Jinja2, trim_blocks) with the role's defaults."""
    template = next(t for t in _role_units().TEMPLATES if t.source == f"{daemon}.service")
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    values = {**yaml.safe_load((template.path.parents[1] / "defaults" / "main.yml").read_text()),
              **REQUIRED, "ansible_managed": "Ansible managed"}  # fmt: skip
    for name, value in values.items():  # defaults naming other defaults
        if isinstance(value, str) and "{{" in value:
            values[name] = env.from_string(value).render(**values)
    rendered = env.from_string(template.path.read_text()).render(**values)
    package = units.text(f"{daemon}.service")
    replaced = set(template.values)
    assert _settings_lines(rendered, replaced) == _settings_lines(package, replaced)
    ours = _settings(rendered)
    assert ours["ExecStart"].startswith(f"/opt/corral/venv/bin/{daemon} ")
    assert "{" not in "".join(ours.values())
