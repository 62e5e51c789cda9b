"""corral-fleet's flags: bad values are refused with a clear message, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--machine-id", "a/b"], "--machine-id 'a/b': use 1 to 128 letters"),
        (["--machine-id", "all"], "--machine-id 'all' is reserved"),
        (["--agent-ttl", "0s"], "--agent-ttl must be 1s to 999999s"),
        (["--agent-ttl", "2w"], "--agent-ttl must be 1s to 999999s"),
        (["--agent-ttl", "soon"], "--agent-ttl: bad duration 'soon'"),
        # a day is a duration (it was refused): the next check is what refuses
        (["--agent-ttl", "1d", "--max-failures", "0"], "--max-failures must be at least 1"),
        (["--metadata", "region"], "metadata 'region': expected KEY=VALUE"),
        (["--max-failures", "0"], "--max-failures must be at least 1"),
        (["--journal-listen", "nowhere"], "--journal-listen must be HOST:PORT"),
        (["--max-unit-size", "0"], "--max-unit-size must be 1 to 174080"),
        (["--max-unit-size", "174081"], "--max-unit-size must be 1 to 174080"),
    ],
)
def test_bad_flags(args: list[str], message: str, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corral.fleet", "--executor", "process",
         "--state-dir", str(tmp_path), "--endpoint", "http://127.0.0.1:9", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
