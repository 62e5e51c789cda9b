"""The integration target `update_settings` as a real play against a real corral-store
and a real corral-updated process (directory slots) following a real mirror with two
channels: the play moves the machine to beta with `corral.cloud.update`, and the daemon
applies it without a restart and installs beta's release."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from updated_harness import PRODUCT, history, status

from corral.testing import ManagedProcess, wait_until
from corral.updated import records as r

REPO = Path(__file__).resolve().parents[3]
TARGETS = REPO / "tests" / "integration" / "targets"
RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def _updated(tmp_path: Path, endpoint: str, mirror: str, pins: tuple[str, str]) -> ManagedProcess:
    argv = [sys.executable, "-m", "corral.updated.cli", "--endpoint", endpoint,
            "--machine-id", "it-m1", "--state-dir", str(tmp_path / "state"),
            "--mirror", mirror, "--product", PRODUCT, "--channel", "stable",
            "--pin", pins[0], "--pin", pins[1], "--threshold", "2",
            "--slots", "directory", "--slot-dir", str(tmp_path / "slots"),
            "--initial-version", "1.0.0", "--strategy", "off", "--interval", "1h",
            "--tick", "0.2s", "--reboot-command", "true", "--no-drain"]  # fmt: skip
    return ManagedProcess(argv, tmp_path / "updated.log")


def _play(tmp_path: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    playbook = tmp_path / "update_settings.yml"
    playbook.write_text("- name: Target update_settings\n  hosts: localhost\n  gather_facts:"
                        " false\n  roles:\n    - role: update_settings\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_ROLES_PATH=str(TARGETS), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    return subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "--diff",
                           "-e", f"corral_endpoint={endpoint}", str(playbook)],
                          env=env, capture_output=True, text=True, timeout=240)  # fmt: skip


def test_a_play_moves_a_running_daemon_to_another_channel(store, upstream, signers,
                                                          tmp_path: Path):  # fmt: skip
    upstream.publish("1.1.0", b"system 1.1.0 beta\n", channel="beta")
    url = upstream.serve()
    daemon = _updated(tmp_path, store.url, url, signers.pins)
    daemon.spawn()
    try:
        def up_to_date_on_stable() -> bool:
            assert daemon.alive(), daemon.log_tail()
            try:
                s = status(store.url, "it-m1")
            except Exception:
                return False
            return s.channel == "stable" and s.note == "up to date (1.0.0)"

        wait_until(up_to_date_on_stable, 30, "corral-updated up to date on stable")
        done = _play(tmp_path, store.url)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out + daemon.log_tail()
        recap = RECAP.search(out)
        assert recap is not None and recap.group(2) == "2", out  # check mode, then once
        # the diff shows the effective settings before and after
        assert '-    "channel": "stable",' in out and '+    "channel": "beta",' in out, out
        s = status(store.url, "it-m1")
        assert (s.channel, s.status, s.new_version) == ("beta", r.NEED_REBOOT, "1.1.0")
        assert "settings" in history(store.url, "it-m1")
        log = daemon.log_text()
        assert "settings applied: channel 'stable' -> 'beta'; strategy 'off' -> 'external'" in log
        assert daemon.alive() and "Traceback" not in log
    finally:
        assert daemon.stop() == 0, daemon.log_tail()
