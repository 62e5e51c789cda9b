"""The client shipped in module_utils is the canonical client, its import of the errors
pointed at their shipped copy."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]


def test_shipped_copy_matches_the_canonical_client(sync):
    expected = sync.render((REPO / "daemons" / "corral" / "client.py").read_text())
    copy = (REPO / "plugins" / "module_utils" / "client.py").read_text()
    assert copy == expected, "module_utils/client.py drifted: run scripts/sync_module_utils.py"
    assert copy.startswith("# GENERATED") and "do not edit" in copy.splitlines()[1]


def test_the_copy_raises_the_shipped_errors():
    from ansible_collections.corral.cloud.plugins.module_utils import client, etcd_errors

    text = (REPO / "plugins" / "module_utils" / "client.py").read_text()
    assert "from corral." not in text and "import corral" not in text
    assert client.EtcdError is etcd_errors.EtcdError  # what modules catch is what it raises
    assert client.StoreError is etcd_errors.StoreError
    errors = (REPO / "plugins" / "module_utils" / "etcd_errors.py").read_text()
    assert errors.startswith("# GENERATED") and "daemons/corral/etcd_errors.py" in errors


def test_check_reports_a_drifted_copy_and_sync_repairs_it(tmp_path, capsys, sync):
    source = tmp_path / "client.py"
    source.write_text('"""client"""\nX = 1\n')
    dest = tmp_path / "copy.py"
    dest.write_text(sync.render('"""client"""\nX = 2\n'))
    args = ["--source", str(source), "--dest", str(dest)]

    assert sync.main(["--check", *args]) == 1
    assert "run scripts/sync_module_utils.py" in capsys.readouterr().err
    assert sync.main(args) == 0
    assert sync.main(["--check", *args]) == 0
    assert dest.read_text().endswith("X = 1\n")


@pytest.mark.parametrize("missing", [True, False])
def test_check_fails_when_the_copy_is_missing_or_empty(tmp_path, missing, sync):
    source = tmp_path / "client.py"
    source.write_text("X = 1\n")
    dest = tmp_path / "copy.py"
    if not missing:
        dest.write_text("")
    assert sync.main(["--check", "--source", str(source), "--dest", str(dest)]) == 1
