"""The lookup benchmark phase (bench/phases/lookup.py): both lookups read the same keys,
and a render with wrong values fails the phase rather than count as fast. (The phase's
timed run is `python -m bench.phases.lookup [--smoke]`.)"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The repository's `bench` package (not installed: it is imported from the root)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench")


@pytest.fixture
def lookup(bench: ModuleType) -> ModuleType:
    return importlib.import_module("bench.phases.lookup")


@pytest.fixture
def side(bench: ModuleType) -> type:
    return importlib.import_module("bench.servers").Side


def test_templates_read_the_same_keys_with_each_lookup(lookup):
    ours = lookup.template_text("ours", "http://127.0.0.1:1", 2)
    etcd = lookup.template_text("etcd", "http://127.0.0.1:2", 2)
    assert "lookup('corral.cloud.kv', '/bench/lookup/k1', endpoint='http://127.0.0.1:1')" in ours
    assert "lookup('community.general.etcd', 'bench/lookup/k1', url='http://127.0.0.1:2'" in etcd
    assert ours.count("\n") == etcd.count("\n") == 2


def test_the_etcd_lookups_silent_miss_is_caught_as_a_wrong_value(etcd, lookup, side):
    # community.general's lookup answers a missing key with None (404) or "ENOENT"
    with pytest.raises(RuntimeError, match=r"the etcd lookup rendered wrong values"):
        lookup.render_once("etcd", side("reference", etcd), 2)
