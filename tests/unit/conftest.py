"""Makes this repository importable as the `corral.cloud` collection for unit tests.

Ansible finds collections only under a directory named `ansible_collections`; the
repository root is the collection root, so a temporary directory gets a symlink
`ansible_collections/corral/cloud` to it and Ansible's collection loader is pointed
there. Plugins are then loaded exactly as ansible-playbook loads them.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible.plugins.loader import init_plugin_loader

REPO = Path(__file__).resolve().parents[2]

_collections = Path(tempfile.mkdtemp(prefix="corral-collections-"))
atexit.register(shutil.rmtree, _collections, True)
(_collections / "ansible_collections" / "corral").mkdir(parents=True)
(_collections / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
init_plugin_loader([str(_collections)])


@pytest.fixture(scope="session")
def sync() -> ModuleType:
    """scripts/sync_module_utils.py loaded as a module (scripts/ is no package)."""
    loaded = importlib.util.spec_from_file_location(
        "sync_module_utils", REPO / "scripts" / "sync_module_utils.py"
    )
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> Callable[..., dict[str, Any]]:
    """Runs a module's main() with the given args and returns its JSON result."""

    def run(main: Callable[[], None], args: dict[str, Any]) -> dict[str, Any]:
        with patch_module_args(args), pytest.raises(SystemExit):
            main()
        return dict(json.loads(capsys.readouterr().out))

    return run


@pytest.fixture
def endpoint(etcd: Any) -> Iterator[str]:
    """URL of a fresh store for one test."""
    yield etcd.url
