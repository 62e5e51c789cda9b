"""Progress bars appear on a terminal and nowhere else: export, sync and import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mirror_setup import Upstream, make_upstream


def run(args: list[str], stderr: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "corral.mirror.cli", *args],
        stdout=subprocess.PIPE, stderr=stderr, timeout=60, check=True,
    )


def on_a_terminal(args: list[str]) -> bytes:
    """What the command draws on stderr when stderr is a terminal (a real pty)."""
    master, slave = os.openpty()
    try:
        run(args, slave)
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    return drawn


def commands(upstream: Upstream, keys, tmp: Path, n: int) -> dict[str, list[str]]:
    pins = ["--key", keys.alice, "--key", keys.bob, "--threshold", "2"]
    bundle = tmp / "all.tar"
    if not bundle.exists():
        run(["export", str(upstream.dir), str(bundle)], subprocess.PIPE)
    return {
        "export": ["export", str(upstream.dir), str(tmp / f"{n}.tar")],
        "sync": ["sync", str(tmp / f"synced-{n}"), str(upstream.dir), *pins],
        "import": ["import", str(tmp / f"imported-{n}"), str(bundle), *pins],
    }


@pytest.mark.parametrize("command", ["export", "sync", "import"])
def test_a_bar_is_drawn_on_a_terminal_only(tmp_path, keys, command):
    upstream = make_upstream(tmp_path, keys, payload_size=1 << 20)
    quiet = run(commands(upstream, keys, tmp_path, 1)[command], subprocess.PIPE)
    assert quiet.stderr == b""
    drawn = on_a_terminal(commands(upstream, keys, tmp_path, 2)[command])
    assert b"100.0%" in drawn
    assert b"MiB/s" in drawn
