"""The daemons' pure files shipped in module_utils are their own, unchanged: the
scheduler's unit checks refuse exactly what corralctl refuses, and the update modules
use corral-updated's keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.corral.cloud.plugins.module_utils import fleet_spec, update_keys

from corral.fleet import spec
from corral.updated import records

REPO = Path(__file__).resolve().parents[4]


def test_every_shipped_copy_matches_its_canonical_file(sync):
    pairs = sync.pairs()
    assert {pair[1].name for pair in pairs} >= {
        "client.py", "etcd_errors.py", "fleet_names.py", "fleet_unitfile.py", "fleet_metadata.py",
        "fleet_spec.py",
        "updated_semaphore.py", "updated_reboot_lock.py",
    }  # fmt: skip
    for source, dest, expected in pairs:
        assert dest.read_text() == expected, f"{dest} drifted from {source}: run the script"
    assert sync.main(["--check"]) == 0


def test_a_copy_imports_only_other_copies():
    text = (REPO / "plugins" / "module_utils" / "fleet_spec.py").read_text()
    assert "from corral." not in text and "import corral" not in text
    assert "module_utils import fleet_names as names" in text


@pytest.mark.parametrize(
    ("name", "contents"),
    [
        ("web.service", "[Service]\nExecStart=/bin/true\n"),
        ("web.service", "[X-Fleet]\nGlobal=true\nMachineOf=db.service\n"),
        ("web.service", "[X-Fleet]\nMachineRegion=eu\n"),
        ("web.service", "   \n"),
        ("web", "[Service]\nExecStart=/bin/true\n"),
        ("a@1.service", "[X-Fleet]\nMachineMetadata=region\n"),
        ("a.service", "[X-Fleet]\nX-ConditionMachineID=abc\n"),
    ],
)
def test_the_copy_judges_units_as_the_scheduler_does(name, contents):
    def verdict(module):
        try:
            module.unit_spec(name, contents)
        except module.SubmitError as exc:
            return str(exc)
        return None

    assert verdict(fleet_spec) == verdict(spec)


def test_the_update_keys_are_corral_updateds():
    names = [n for n in vars(update_keys) if n.isupper()]
    assert names
    for name in names:
        assert getattr(update_keys, name) == getattr(records, name), name
