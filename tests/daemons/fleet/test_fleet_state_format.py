"""corral-fleet's state directory format (STATE_DIR/FORMAT): a state directory of
0.1.0 is upgraded once and its running unit adopted; a newer format is refused with
both versions named and nothing changed; a marker torn by a crash is written again.

"A state directory of 0.1.0": written by today's agent (units/, launched/), then
the marker removed; the marker is the only change to what the agent writes there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleet_harness import LOOP, Fleet

from corral.testing import StoreServer, newer_format_refusal, tree_state, wait_until

RECORDED = "format 1 recorded"


def test_a_state_dir_of_0_1_0_is_upgraded_once_and_its_unit_adopted(
    store: StoreServer, tmp_path: Path
) -> None:
    fleet = Fleet(store.url, tmp_path / "fleet")
    try:
        agent = fleet.add("m1")
        fleet.wait_machines("m1")
        fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("m.service", LOOP))
        fleet.wait_active("m.service")
        supervisor = agent.unit_pids("m.service")
        marker = agent.state_dir / "FORMAT"
        assert marker.read_bytes() == b"1\n"
        agent.kill()  # the unit's supervisor lives on
        marker.unlink()  # what 0.1.0 left
        agent.spawn()
        wait_until(marker.exists, 20, "the format recorded")
        assert marker.read_bytes() == b"1\n"
        fleet.wait_machines("m1")
        assert agent.unit_pids("m.service") == supervisor  # adopted: state kept
        assert agent.log_text().count(RECORDED) == 1  # the upgrade (a new one is not logged)
        written = marker.stat().st_mtime_ns
        agent.stop()
        agent.spawn()
        registered = "machine m1 registered"
        wait_until(lambda: agent.log_text().count(registered) == 3, 20, "the third start")
        assert agent.log_text().count(RECORDED) == 1  # not again
        assert marker.stat().st_mtime_ns == written
    finally:
        fleet.close()


def _fleet(state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.fleet", "--executor", "process", "--machine-id", "m1",
         "--state-dir", str(state_dir), "--endpoint", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_a_newer_state_dir_is_refused_naming_both_and_left_unchanged(tmp_path: Path) -> None:
    (tmp_path / "units/m.service").mkdir(parents=True)
    (tmp_path / "units/m.service/unit").write_text(LOOP)
    (tmp_path / "FORMAT").write_bytes(b"7\n")
    before = tree_state(tmp_path)
    done = _fleet(tmp_path)
    assert done.returncode == 1
    # the refusal is the last word, after the start-up line naming the version
    refusal = newer_format_refusal("corral-fleet", f"state directory {tmp_path}", 7)
    assert done.stderr.splitlines()[-1] == f"corral-fleet: {refusal}"
    assert "Traceback" not in done.stderr
    assert tree_state(tmp_path) == before


def test_a_marker_torn_by_a_crash_is_written_again(store: StoreServer, tmp_path: Path) -> None:
    """A crash before the temporary marker of a 0.1.0 directory was renamed: no
    marker, a partial one."""
    state_dir = tmp_path / "fleet/m1"
    (state_dir / "launched").mkdir(parents=True)
    (state_dir / "FORMAT.tmp").write_bytes(b"")
    fleet = Fleet(store.url, tmp_path / "fleet")
    try:
        agent = fleet.add("m1")
        fleet.wait_machines("m1")
        assert RECORDED in agent.log_text() and "Traceback" not in agent.log_text()
        assert (state_dir / "FORMAT").read_bytes() == b"1\n"
        assert not (state_dir / "FORMAT.tmp").exists()
    finally:
        fleet.close()
