"""corral-updated's state directory format (STATE_DIR/FORMAT): a state directory of
0.1.0 is upgraded once and its state kept; a newer format is refused with both
versions named and nothing changed; a marker torn by a crash is written again.

"A state directory of 0.1.0": written by today's daemon (trust.json, updated.json,
downloads/), then the marker removed; the marker is the only change to what the
daemon writes there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from updated_harness import Signers, UpstreamMirror

from corral.testing import ManagedProcess, StoreServer, newer_format_refusal, tree_state, wait_until

RECORDED = "format 1 recorded"
STARTED = "machine m1 on slot"


def _argv(tmp_path: Path, endpoint: str, mirror: Path, signers: Signers) -> list[str]:
    return [sys.executable, "-m", "corral.updated.cli", "--machine-id", "m1",
            "--endpoint", endpoint, "--mirror", str(mirror),
            *[a for p in signers.pins for a in ("--pin", p)], "--threshold", "2",
            "--product", "corral-os", "--state-dir", str(tmp_path / "state"),
            "--slot-dir", str(tmp_path / "slots"), "--reboot-command", "true",
            "--no-drain", "--tick", "0.05"]  # fmt: skip


def test_a_state_dir_of_0_1_0_is_upgraded_once_and_its_state_kept(
    store: StoreServer, upstream: UpstreamMirror, signers: Signers, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    daemon = ManagedProcess(_argv(tmp_path, store.url, upstream.dir, signers),
                            tmp_path / "updated.log", dict(os.environ, PYTHONUNBUFFERED="1"))
    daemon.spawn()
    try:
        wait_until(lambda: (state / "trust.json").exists() and (state / "updated.json").exists(),
                   30, "the daemon's state written")  # fmt: skip
        assert daemon.stop() == 0
        assert (state / "FORMAT").read_bytes() == b"1\n"
        (state / "FORMAT").unlink()  # what 0.1.0 left
        trust = (state / "trust.json").read_bytes()
        daemon.spawn()
        wait_until(lambda: daemon.log_text().count(STARTED) == 2, 30, "the second start")
        assert daemon.stop() == 0
        assert daemon.log_text().count(RECORDED) == 1  # the upgrade (a new one is not logged)
        assert (state / "FORMAT").read_bytes() == b"1\n"
        assert (state / "trust.json").read_bytes() == trust  # the accepted root kept
        written = (state / "FORMAT").stat().st_mtime_ns
        daemon.spawn()
        wait_until(lambda: daemon.log_text().count(STARTED) == 3, 30, "the third start")
        assert daemon.stop() == 0
        assert daemon.log_text().count(RECORDED) == 1  # not again
        assert (state / "FORMAT").stat().st_mtime_ns == written
    finally:
        daemon.stop()


def _updated(tmp_path: Path, signers: Signers) -> subprocess.CompletedProcess[str]:
    argv = _argv(tmp_path, "http://127.0.0.1:9", tmp_path / "mirror", signers)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def test_a_newer_state_dir_is_refused_naming_both_and_left_unchanged(
    tmp_path: Path, signers: Signers
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "trust.json").write_text("{}\n")
    (state / "FORMAT").write_bytes(b"2\n")
    before = tree_state(state)
    done = _updated(tmp_path, signers)
    assert done.returncode == 1
    # the refusal is the last word, after the start-up line naming the version
    refusal = newer_format_refusal("corral-updated", f"state directory {state}", 2)
    assert done.stderr.splitlines()[-1] == f"corral-updated: {refusal}"
    assert "Traceback" not in done.stderr
    assert tree_state(state) == before


def test_a_marker_torn_by_a_crash_is_written_again(tmp_path: Path, signers: Signers) -> None:
    """A crash before the temporary marker of a 0.1.0 directory was renamed; the store
    is down here, so the daemon exits after recording the format (it comes first)."""
    state = tmp_path / "state"
    (state / "downloads").mkdir(parents=True)
    (state / "FORMAT.tmp").write_bytes(b"1")
    done = _updated(tmp_path, signers)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert RECORDED in done.stderr
    assert (state / "FORMAT").read_bytes() == b"1\n"
    assert not (state / "FORMAT.tmp").exists()
