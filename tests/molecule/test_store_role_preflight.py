"""The store role refuses bad input before it touches a host: a directory that is not
a bundle, a bundle damaged on its way across the air gap, an etcd backend without
endpoints. Each refusal is one clear message, not a traceback.

The host's connection is nsenter into a PID that does not exist: had the role gone
past its checks, the run would fail differently (unreachable), never install anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

PLAYBOOK = """\
- hosts: target
  gather_facts: false
  roles:
    - role: corral.cloud.store
"""


def _bundle(root: Path, wheels: bytes, recorded: bytes) -> Path:
    """A bundle whose SHA256SUMS records the checksum of `recorded` for wheels.tar."""
    root.mkdir()
    (root / "wheels.tar").write_bytes(wheels)
    digest = hashlib.sha256(recorded).hexdigest()
    (root / "SHA256SUMS").write_text(f"{digest}  wheels.tar\n")
    manifest = {
        "format": 1,
        "corral_version": "0.1.0",
        "python": "3.11",
        "wheels": [],
        "debs": [],
        "files": [{"path": "wheels.tar", "size": len(recorded), "sha256": digest}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _apply_store_role(run_ansible, tmp_path: Path, **role_vars: object):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.ini").write_text(
        "target ansible_connection=community.docker.nsenter ansible_nsenter_pid=999999999\n"
    )
    (tmp_path / "vars.json").write_text(json.dumps(role_vars))
    inventory, extra_vars = tmp_path / "inventory.ini", tmp_path / "vars.json"
    argv = ["ansible-playbook", "-i", str(inventory), "-e", f"@{extra_vars}"]
    return run_ansible([*argv, str(tmp_path / "play.yml")], timeout=120)


def _assert_refused(result, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert "UNREACHABLE" not in output, output[-4000:]


@pytest.mark.timeout(180)
def test_a_directory_that_is_not_a_bundle_is_refused(run_ansible, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _apply_store_role(run_ansible, tmp_path, store_bundle_dir=str(empty))
    _assert_refused(result, "is not an offline bundle (no manifest.json)")


@pytest.mark.timeout(180)
def test_a_damaged_bundle_is_refused(run_ansible, tmp_path):
    bundle = _bundle(tmp_path / "bundle", wheels=b"damaged in transit", recorded=b"as built")
    result = _apply_store_role(run_ansible, tmp_path, store_bundle_dir=str(bundle))
    _assert_refused(result, "wheels.tar: FAILED")


@pytest.mark.timeout(180)
def test_the_etcd_backend_needs_endpoints(run_ansible, tmp_path):
    bundle = _bundle(tmp_path / "bundle", wheels=b"as built", recorded=b"as built")
    result = _apply_store_role(
        run_ansible, tmp_path, store_bundle_dir=str(bundle), store_backend="etcd"
    )
    _assert_refused(result, "store_backend=etcd needs store_etcd_endpoints")


@pytest.mark.timeout(180)
def test_an_unknown_backend_is_refused_by_the_argument_spec(run_ansible, tmp_path):
    bundle = _bundle(tmp_path / "bundle", wheels=b"as built", recorded=b"as built")
    result = _apply_store_role(
        run_ansible, tmp_path, store_bundle_dir=str(bundle), store_backend="zookeeper"
    )
    _assert_refused(result, "value of store_backend must be one of: embedded, etcd")
