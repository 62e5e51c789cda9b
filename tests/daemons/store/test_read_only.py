"""A data directory that cannot be written: clear errors, reads go on, nothing lost.

Two ways a directory turns read-only, each as root really sees it:
- under a running store: a file system cannot be remounted read-only while the store
  holds its commit log open for writing (the kernel answers EBUSY), so the directory
  and its files are made immutable (`chattr +i`), which refuses writes to root too,
  even on descriptors opened before (EPERM, checked below);
- before the store starts: a tmpfs remounted `ro` (EROFS).
Writes then fail with etcd's error 300 (HTTP 500), as when the disk is full: the
request was fine and the write may be retried later; 4xx would blame the client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from corral.store.disk import LOG_LIMIT
from corral.testing import StoreServer

from .wire import call


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", "-R", flag, str(path)], check=True)


def _write_back(data_dir: Path) -> None:
    """What the kernel does to dirty pages within 30 s anyway: after it, a write to a
    page the store has mapped asks the file system again, which then refuses it."""
    for f in data_dir.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _tmpfs(mountpoint: Path) -> Iterator[Path]:
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "corral-ro", str(mountpoint)],
                   check=True)  # fmt: skip
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def _assert_refused_as_read_only(answer_status: int, answer_json: dict) -> None:
    assert answer_status == 500, answer_json
    assert answer_json["errorCode"] == 300
    assert answer_json["message"] == "Raft Internal Error"
    assert "read-only" in answer_json["cause"], answer_json


def test_a_data_dir_made_read_only_under_the_store_refuses_writes_and_keeps_reads(
    store: StoreServer,
) -> None:
    acked: dict[str, str] = {}
    for i in range(30):
        a = call(store.url, "PUT", f"/v2/keys/ro/k{i}", form={"value": f"v{i}"})
        assert a.status == 201
        acked[f"/ro/k{i}"] = f"v{i}"
    # past one fold of the commit log into the SQLite snapshot, as a store that has
    # run a while: the rebuild after a refused write then reads a snapshot it wrote
    for i in range(LOG_LIMIT // 60_000 + 2):
        value = f"{i:04d}" + "b" * 60_000
        assert call(store.url, "PUT", f"/v2/keys/big/{i}", form={"value": value}).status == 201
        acked[f"/big/{i}"] = value
    index = int(call(store.url, "GET", "/v2/keys/").headers["X-Etcd-Index"])
    _write_back(store.data_dir)
    _chattr("+i", store.data_dir)
    try:
        with pytest.raises(PermissionError):  # the mechanism really binds root
            (store.data_dir / "probe").write_bytes(b"x")
        for i in range(5):  # each write refused, the store still up after every one
            a = call(store.url, "PUT", f"/v2/keys/ro/refused{i}", form={"value": "no"})
            _assert_refused_as_read_only(a.status, a.json)
            assert a.json["index"] == index
        a = call(store.url, "DELETE", "/v2/keys/ro/k0")
        _assert_refused_as_read_only(a.status, a.json)
        a = call(store.url, "POST", "/v2/keys/queue", form={"value": "job"})
        _assert_refused_as_read_only(a.status, a.json)
        # reads answer from what is durable: no refused write is visible
        for key, value in acked.items():
            assert call(store.url, "GET", "/v2/keys" + key).json["node"]["value"] == value
        assert call(store.url, "GET", "/v2/keys/ro/refused0").status == 404
        listing = call(store.url, "GET", "/v2/keys/ro", query={"recursive": "true"})
        assert len(listing.json["node"]["nodes"]) == 30
        assert int(listing.headers["X-Etcd-Index"]) == index
        history = {"wait": "true", "waitIndex": str(index - 5)}
        watched = call(store.url, "GET", "/v2/keys/big", query=history | {"recursive": "true"})
        assert watched.json["node"]["modifiedIndex"] == index - 5  # history is served too
    finally:
        _chattr("-i", store.data_dir)
    again = call(store.url, "PUT", "/v2/keys/ro/after", form={"value": "writable again"})
    assert again.status == 201, again.body
    assert again.json["node"]["modifiedIndex"] == index + 1
    store.kill()
    store.start()
    for key, value in acked.items():
        assert call(store.url, "GET", "/v2/keys" + key).json["node"]["value"] == value
    after = call(store.url, "GET", "/v2/keys/ro/after").json["node"]
    assert after["value"] == "writable again" and after["modifiedIndex"] == index + 1
    for i in range(5):
        assert call(store.url, "GET", f"/v2/keys/ro/refused{i}").status == 404
    assert call(store.url, "GET", "/v2/keys/queue").status == 404
    assert "Traceback" not in store.log_text()


def test_starting_on_a_read_only_data_dir_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    with _tmpfs(tmp_path / "mnt") as mnt:
        server = StoreServer(mnt / "data", log_path=tmp_path / "store.log").start()
        try:
            assert call(server.url, "PUT", "/v2/keys/kept", form={"value": "k"}).status == 201
        finally:
            server.stop()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for data_dir in (mnt / "data", mnt / "absent"):
            server = StoreServer(data_dir, log_path=tmp_path / f"{data_dir.name}.log")
            with pytest.raises(RuntimeError, match="corral-store exited"):
                server.start()
            assert server.proc is not None and server.proc.wait(10) == 1
            text = server.log_text()
            assert "refusing to start" in text and "read-only" in text.lower(), text
            assert str(data_dir) in text
            assert "Traceback" not in text
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        server = StoreServer(mnt / "data", log_path=tmp_path / "store.log").start()
        try:
            assert call(server.url, "GET", "/v2/keys/kept").json["node"]["value"] == "k"
        finally:
            server.stop()


# Run in a child: a process that touches a mapped page of a read-only file dies of SIGBUS.
SNAPSHOT_AFTER_TURNING_READ_ONLY = """
import os, subprocess, sys
from pathlib import Path
from corral.store.disk import CommitError, Disk
from corral.store.store import Store

path = Path(sys.argv[1])
disk = Disk(path, log_limit=4000)  # folds into the snapshot every few commits
disk.open()
store = Store(lambda: 0)
for i in range(40):
    store.set(f"/k{i % 5}", False, f"value {i} " * 30, None)
    disk.commit(store.take_journal(), store.take_events(), store.index)
for f in path.iterdir():  # dirty pages written back, as the kernel does within 30 s
    fd = os.open(f, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
subprocess.run(["chattr", "-R", "+i", str(path)], check=True)
store.set("/refused", False, "x", None)
try:
    disk.commit(store.take_journal(), store.take_events(), store.index)
except CommitError as exc:
    print("refused:", exc)
again = Store(lambda: 0)
again.load(disk.rows(), disk.index())
again.replay(disk.changes())
print("read back:", sorted(again.nodes), again.index, len(disk.history()))
"""


def test_the_snapshot_stays_readable_in_a_directory_turned_read_only(tmp_path: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", SNAPSHOT_AFTER_TURNING_READ_ONLY, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        _chattr("-i", tmp_path)
    assert done.returncode == 0, done.stderr  # -7 (SIGBUS) with SQLite's shared -shm
    assert "refused: the data directory is read-only" in done.stdout
    keys = ["/", "/k0", "/k1", "/k2", "/k3", "/k4"]
    assert f"read back: {keys} 40 40" in done.stdout, done.stdout
