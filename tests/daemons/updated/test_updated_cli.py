"""Bad input to corral-updated and to corralctl update: one clear line and an exit
status, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from updated_harness import ctl

from corral.updated.cli import build_parser, configure

BASE = ["--machine-id", "m1", "--mirror", "http://127.0.0.1:9/", "--pin", "A" * 40]


@pytest.mark.parametrize("args, message", [
    (["--machine-id", "m1", "--mirror", "http://127.0.0.1:9/"], "pin at least one signing key"),
    ([*BASE, "--window", "Mon 02:00"], "expected DAYS START LENGTH"),
    ([*BASE, "--window", "Mon 02:00 1h Nowhere/City"], "unknown time zone"),
    ([*BASE, "--interval", "soon"], "--interval: bad duration 'soon'"),
    ([*BASE, "--threshold", "3"], "threshold between 1 and 1"),
    ([*BASE, "--machine-id", "bad id"], "--machine-id 'bad id'"),
    ([*BASE, "--machine-id", "all"], "--machine-id 'all' is reserved"),
    ([*BASE, "--machine-id", "x" * 129], "use 1 to 128 letters"),
    ([*BASE, "--slot-dir", "/tmp/x", "--free-margin", "-1"], "--free-margin must be 0 or more"),
    ([*BASE, "--slot-dir", "/tmp/x", "--min-rate", "0"], "--min-rate must be above 0"),
    ([*BASE, "--slot-dir", "/tmp/x", "--rate-grace", "soon"], "--rate-grace: bad duration"),
    ([*BASE, "--window", "Mon 02:00 1fortnight"], "length: bad duration '1fortnight'"),
    ([*BASE, "--slot-dir", "/tmp/x", "--jitter", "2"], "--jitter must be between 0 and 1"),
    (BASE, "--slots directory needs --slot-dir"),
    ([*BASE, "--slots", "grub", "--grub-env", "/tmp/e", "--grub-device", "a=/dev/x"],
     "no device for slot(s) b"),
    ([*BASE, "--slots", "grub", "--grub-env", "/tmp/e", "--grub-device", "c"], "a=PATH"),
])  # fmt: skip
def test_bad_options_are_one_clear_line(args, message, tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "corral.updated.cli", "--state-dir",
                           str(tmp_path / "s"), *args], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_every_duration_takes_the_one_grammar(tmp_path: Path):
    # a day, 1h30min and 500ms were refused by corral-updated's own parsers
    args = build_parser().parse_args([
        *BASE, "--state-dir", str(tmp_path / "s"), "--slot-dir", str(tmp_path / "slots"),
        "--alive-ttl", "1d", "--interval", "1d", "--tick", "500ms",
        "--window", "Mon 02:00 1h30min", "--window", "Sat 01:00 2hours Europe/Berlin",
    ])  # fmt: skip
    config, _, _, ttl = configure(args)
    assert ttl == 86400 and config.interval == 86400 and config.tick == 0.5
    assert [w.length for w in config.windows] == [timedelta(minutes=90), timedelta(hours=2)]


def test_unreachable_store_and_corrupt_state_are_reported_not_raised(tmp_path: Path):
    args = [sys.executable, "-m", "corral.updated.cli", *BASE, "--state-dir",
            str(tmp_path / "s"), "--slot-dir", str(tmp_path / "slots"),
            "--endpoint", "http://127.0.0.1:9"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # the version logged at start, then the one line
    assert done.stderr.splitlines()[-1].startswith("corral-updated: ")


def test_corralctl_update_refuses_bad_requests_clearly(store):
    rc, out = ctl(store.url, "update", "check")
    assert rc == 1 and "give a machine ID or --all" in out
    rc, out = ctl(store.url, "update", "hold", "m1", "--all")
    assert rc == 1 and "not both" in out
    rc, out = ctl(store.url, "update", "history", "nobody")
    assert rc == 1 and "no update history for machine 'nobody'" in out
    rc, out = ctl(store.url, "update", "clear", "corral-os-9.9.9-0000")
    assert rc == 1 and "is not marked bad (marked bad: none)" in out
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and out.split() == ["MACHINE", "STATUS", "VERSION", "NEW", "PROGRESS",
                                       "HELD", "CHANNEL", "STRATEGY", "WINDOWS",
                                       "DETAIL"]  # fmt: skip
