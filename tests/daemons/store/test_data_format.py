"""The data directory's format: a directory written by 0.1.0 (no marker) is upgraded
once and keeps everything; a newer format is refused, untouched; a crash while the
marker was being written is recovered.

The fixture data-0.1.0.tar.gz was written by corral-store as released (main before
format markers) with fixtures/make_data_0_1_0.py, which also saved what a client read
from it then (data-0.1.0.json); its docstring says how to run it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from corral.testing import StoreServer, tree_state

from .wire import call

FIXTURES = Path(__file__).parent / "fixtures"


def released_data_dir(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURES / "data-0.1.0.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def without_ttl(node: dict[str, Any]) -> dict[str, Any]:
    """A node as read back: `ttl` counts down, `expiration` must be the same."""
    out = {k: v for k, v in node.items() if k != "ttl"}
    if "nodes" in node:
        out["nodes"] = [without_ttl(n) for n in node["nodes"]]
    return out


def test_a_data_directory_of_0_1_0_is_upgraded_once_with_keys_indexes_ttls_and_history(
    tmp_path: Path,
) -> None:
    data = released_data_dir(tmp_path)
    expected = json.loads((FIXTURES / "data-0.1.0.json").read_text())
    assert not (data / "FORMAT").exists()
    store = StoreServer(data).start()
    try:
        assert (data / "FORMAT").read_bytes() == b"1\n"
        assert store.log_text().count("format 1 recorded") == 1
        tree = call(store.url, "GET", "/v2/keys/", query={"recursive": "true", "sorted": "true"})
        assert without_ttl(tree.json["node"]) == without_ttl(expected["tree"]["node"])
        assert int(tree.headers["X-Etcd-Index"]) == expected["index"]
        lease = call(store.url, "GET", "/v2/keys/lease").json["node"]
        assert lease["ttl"] > 2_000_000_000  # still counting down from the fixture's TTL
        watch = call(store.url, "GET", "/v2/keys/dir/k1", query={"wait": "true", "waitIndex": "1"})
        assert watch.json == expected["watch_k1_from_1"]  # the history came along
        marker = (data / "FORMAT").stat().st_mtime_ns
        store.restart()
        assert store.log_text().count("format 1 recorded") == 1  # not again
        assert (data / "FORMAT").stat().st_mtime_ns == marker
        put = call(store.url, "PUT", "/v2/keys/after", form={"value": "a"}).json
        assert put["node"]["modifiedIndex"] == expected["index"] + 1  # no index reused
    finally:
        store.stop()


def test_a_newer_format_is_refused_naming_both_and_left_unchanged(tmp_path: Path) -> None:
    data = released_data_dir(tmp_path)
    (data / "FORMAT").write_bytes(b"2\n")
    before = tree_state(data)
    done = subprocess.run(
        [sys.executable, "-m", "corral.store", "--data-dir", str(data),
         "--listen-client-urls", "http://127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    refusal = [line for line in done.stderr.splitlines() if "refusing to start" in line]
    assert len(refusal) == 1, done.stderr
    assert f"data directory {data} has format 2" in refusal[0]
    assert "reads formats up to 1" in refusal[0] and "upgrade corral-store" in refusal[0]
    assert tree_state(data) == before


def test_a_crash_while_the_marker_was_written_is_recovered(tmp_path: Path) -> None:
    """A crash after the temporary marker was created, before its rename: no marker,
    a partial temporary one. The next start records the format and keeps the data."""
    data = released_data_dir(tmp_path)
    expected = json.loads((FIXTURES / "data-0.1.0.json").read_text())
    (data / "FORMAT.tmp").write_bytes(b"")
    store = StoreServer(data).start()
    try:
        assert (data / "FORMAT").read_bytes() == b"1\n"
        assert not (data / "FORMAT.tmp").exists()
        tree = call(store.url, "GET", "/v2/keys/", query={"recursive": "true", "sorted": "true"})
        assert without_ttl(tree.json["node"]) == without_ttl(expected["tree"]["node"])
    finally:
        store.stop()


def test_a_damaged_marker_is_refused_not_guessed(tmp_path: Path) -> None:
    data = released_data_dir(tmp_path)
    (data / "FORMAT").write_bytes(b"one\n")
    before = tree_state(data)
    store = StoreServer(data)
    store.spawn()
    assert store.proc is not None and store.proc.wait(30) == 1
    assert f"{data}/FORMAT is not a format marker" in store.log_text()
    assert "Traceback" not in store.log_text()
    assert tree_state(data) == before
