"""Progress bars appear on a terminal and nowhere else."""

from __future__ import annotations

import os
import subprocess
import sys

from mirror_setup import make_upstream


def export(upstream, bundle, stderr) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "corral.mirror.cli", "export", str(upstream.dir), str(bundle)],
        stdout=subprocess.PIPE, stderr=stderr, timeout=60, check=True,
    )


def test_export_draws_a_bar_on_a_terminal_only(tmp_path, keys):
    upstream = make_upstream(tmp_path, keys, payload_size=1 << 20)
    quiet = export(upstream, tmp_path / "a.tar", subprocess.PIPE)
    assert quiet.stderr == b""
    master, slave = os.openpty()
    try:
        export(upstream, tmp_path / "b.tar", slave)
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
    assert b"100.0%" in drawn
    assert b"MiB/s" in drawn
