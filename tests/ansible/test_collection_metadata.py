"""The collection's metadata says only what is true: the ansible-core versions it claims
are the ones the tests run with, and no address points at a placeholder."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def test_requires_ansible_is_the_tested_ansible_core_range() -> None:
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    claimed = SpecifierSet(runtime["requires_ansible"])
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    extra = [Requirement(r) for r in project["project"]["optional-dependencies"]["ansible"]]
    tested = next(r.specifier for r in extra if r.name == "ansible-core")
    # the same range, written in each file's own way (2.19.0 and 2.19 are equal versions)
    assert {(s.operator, Version(s.version)) for s in claimed} == {
        (s.operator, Version(s.version)) for s in tested
    }
    assert version("ansible-core") in claimed


def test_galaxy_metadata_names_no_placeholder_address() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    for field in ("repository", "documentation", "homepage", "issues"):
        value = galaxy.get(field) or ""
        assert ".invalid" not in value and "example." not in value, (field, value)


def test_galaxy_readme_ships_in_the_built_collection() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    readme = Path(galaxy["readme"])
    assert (REPO / readme).is_file()
    assert not any(readme.match(pattern) or str(readme).startswith(pattern.rstrip("/") + "/")
                   for pattern in galaxy["build_ignore"])  # fmt: skip
