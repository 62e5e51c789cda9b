"""corral-store's command line: clear refusals, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def run_store(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.store", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    done = run_store("--backend", "zookeeper", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'zookeeper'" in done.stderr and "Traceback" not in done.stderr


def test_bad_listen_urls_are_refused(tmp_path: Path) -> None:
    for url in ("https://127.0.0.1:0", "http://127.0.0.1", "http://127.0.0.1:notaport", ","):
        done = run_store("--listen-client-urls", url, cwd=tmp_path)
        assert done.returncode == 2, url
        assert "corral-store:" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_an_address_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = run_store("--listen-client-urls", f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "default.corral" / "store.db").exists()  # the documented default
