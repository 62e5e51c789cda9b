"""Durability below the page cache: every acknowledged write was fdatasync'ed before
its answer left, and a log is emptied only after its fold is synced into store.db.

A SIGKILL test cannot show this: the page cache survives the kill, so every crash test
would still pass with fdatasync removed. Here corral-store runs under strace, and the
order of its system calls is checked: for each write, the log record holding its value
(pwrite64 to `store.log` or `store.log.1`), then an fdatasync of that same log that
completes, then the answer carrying the value on the client's TCP socket. For a fold
(a log past the 16 MiB limit), SQLite's WAL written and synced before the folded log
is truncated; the swap to the other log holds the same rule for the commits that
follow it. A fold that large also makes SQLite checkpoint (and sync) on its own, so a
small fold (the same Disk code at a 4000-byte limit) shows the store's own fdatasync
of the WAL is there. Each test fails with the sync it checks removed.

A power-cut test (a device-mapper target that drops unsynced writes, dm-flakey with
drop_writes or dm-log-writes, under a loop device) cannot run on this machine: loop
devices work, but the kernel has no device-mapper (no `device-mapper` in /proc/misc,
/dev/mapper/control absent, `dmsetup targets` fails with "Failure to communicate with
kernel device-mapper driver"), and there are no modules to load (no /lib/modules, no
modprobe). The strace order above is what this machine can show.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.client import Client
from corral.store.disk import LOG_LIMIT
from corral.testing import StoreServer, wait_until

SYSCALLS = "pwrite64,pwritev,write,writev,sendto,sendmsg,fdatasync,fsync,ftruncate"
LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")


@dataclass(frozen=True)
class Call:
    """One system call: its position in the trace where it started and where it
    returned (the same for a call strace did not split), the file or socket it used,
    and the text strace showed of its arguments."""

    start: int
    end: int
    name: str
    target: str
    text: str


def parse(trace: str) -> list[Call]:
    calls: list[Call] = []
    pending: dict[int, tuple[int, str, str, str]] = {}  # pid -> started call
    for n, line in enumerate(trace.splitlines()):
        m = LINE.match(line)
        if m is None:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if RESUMED.match(rest) is not None:
            if pid in pending:
                start, name, target, text = pending.pop(pid)
                calls.append(Call(start, n, name, target, text + rest))
            continue
        c = CALL.match(rest)
        if c is None:
            continue
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (n, c.group(1), c.group(3), rest)
        else:
            calls.append(Call(n, n, c.group(1), c.group(3), rest))
    return calls


def is_log(target: str) -> bool:
    return target.endswith(("/store.log", "/store.log.1"))


class TracedStore:
    """corral-store started under `strace -f`, its system calls written to `trace`."""

    def __init__(self, tmp_path: Path) -> None:
        self.trace = tmp_path / "trace"
        self.server = StoreServer(tmp_path / "data")
        self.server.argv = [
            "strace", "-f", "-yy", "-s", "4096", "-e", f"trace={SYSCALLS}",
            "-o", str(self.trace), *self.server.argv,
        ]  # fmt: skip

    def __enter__(self) -> TracedStore:
        self.server.start(timeout=60)
        return self

    def store_pid(self) -> int:
        """The store itself (strace's child)."""
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children")
        return int(children.read_text().split()[0])

    def calls(self) -> list[Call]:
        """Stop the store (SIGTERM, so strace writes everything) and read the trace."""
        os.kill(self.store_pid(), signal.SIGTERM)
        assert self.server.proc is not None
        self.server.proc.wait(60)
        return parse(self.trace.read_text(errors="replace"))

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def answered_after_sync(calls: list[Call], token: str) -> tuple[Call, Call, Call]:
    """The record of `token` in a log, the fdatasync of that log that made it durable,
    and the answer that carried `token`; asserts they happened in that order."""
    record = next(c for c in calls if c.name.startswith("pwrite") and is_log(c.target)
                  and token in c.text)  # fmt: skip
    answer = next(c for c in calls if "TCP:" in c.target and token in c.text
                  and c.name in ("write", "writev", "sendto", "sendmsg"))  # fmt: skip
    synced = [c for c in calls if c.name == "fdatasync" and c.target == record.target
              and c.start > record.end and c.end < answer.start]  # fmt: skip
    assert synced, (
        f"{token}: answered (trace line {answer.start}) with no fdatasync of "
        f"{record.target} after its record (line {record.end})"
    )
    return record, synced[0], answer


def test_every_acknowledged_write_was_fdatasynced_before_its_answer(tmp_path: Path) -> None:
    """16 writers at once (so commits batch several writes per fdatasync), 10 each."""
    acked: list[str] = []
    with TracedStore(tmp_path) as store:

        def writer(n: int) -> None:
            client = Client(store.server.url, timeout=30)
            for i in range(10):
                token = f"durable-w{n}-{i}-{os.urandom(4).hex()}"
                assert client.set(f"/d/w{n}/k{i % 3}", token).node.value == token
                acked.append(token)
            client.close()

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        calls = store.calls()
    assert len(acked) == 160
    syncs = set()
    for token in acked:
        _, synced, _ = answered_after_sync(calls, token)
        syncs.add(synced.start)
    assert len(syncs) < len(acked)  # concurrent writes did share commits


def test_a_log_is_emptied_only_after_its_fold_is_synced_into_store_db(tmp_path: Path) -> None:
    """Two values of 6 MiB fill store.log past its limit; the next write swaps the logs
    and a fold moves the full one into store.db, then truncates it."""
    big = (LOG_LIMIT * 3) // 8  # each record holds the value twice (the row, the event)
    with TracedStore(tmp_path) as store:
        client = Client(store.server.url, timeout=60)
        for n in range(2):
            client.set(f"/big/k{n}", f"big{n}-" + "x" * big)
        after = f"after-swap-{os.urandom(4).hex()}"
        client.set("/small", after)
        folded = store.server.data_dir / "store.log"
        wait_until(lambda: folded.stat().st_size == 0, 60, "the full log folded and emptied")
        time.sleep(0.1)
        client.close()
        calls = store.calls()
    truncate = next(c for c in calls if c.name == "ftruncate" and c.target.endswith("/store.log"))
    wal_writes = [c for c in calls if c.name.startswith("pwrite")
                  and c.target.endswith("/store.db-wal") and c.end < truncate.start]  # fmt: skip
    assert wal_writes, "the fold wrote nothing to SQLite's WAL before emptying the log"
    last = wal_writes[-1]
    synced = [c for c in calls if c.name in ("fdatasync", "fsync")
              and c.target.endswith("/store.db-wal")
              and last.end < c.start and c.end < truncate.start]  # fmt: skip
    assert synced, (
        f"store.log truncated (trace line {truncate.start}) with no sync of the WAL after "
        f"the fold's last write (line {last.end})"
    )
    emptied = [c for c in calls if c.name in ("fsync", "fdatasync")
               and c.target.endswith("/store.log") and c.start > truncate.end]  # fmt: skip
    assert emptied, "the truncation of store.log was never synced"
    # the write that swapped the logs went to the other one, durable before its answer
    record, _, _ = answered_after_sync(calls, after)
    assert record.target.endswith("/store.log.1")


SMALL_FOLDS = """
import sys
from pathlib import Path
from corral.store.disk import Disk
from corral.store.store import Store
disk = Disk(Path(sys.argv[1]), log_limit=4000)
disk.open()
store = Store(lambda: 0)
for i in range(60):
    store.set(f"/k{i % 5}", False, f"value {i} " * 20, None)
    disk.commit(store.take_journal(), store.take_events(), store.index)
disk.close()
"""


def test_a_fold_too_small_for_sqlites_checkpoint_is_synced_before_its_log_empties(
    tmp_path: Path,
) -> None:
    """Folds of a few pages (SQLite checkpoints, and syncs, only past 1000): the store's
    own fdatasync of the WAL is all that makes each one durable. The same Disk code as
    the server, at a log limit of 4000 bytes, so that it folds often."""
    trace = tmp_path / "trace"
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(
        ["strace", "-f", "-yy", "-e", f"trace={SYSCALLS}", "-o", str(trace),
         sys.executable, "-c", SMALL_FOLDS, str(data)],
        check=True, timeout=120,
    )  # fmt: skip
    calls = parse(trace.read_text(errors="replace"))
    truncates = [c for c in calls if c.name == "ftruncate" and is_log(c.target)]
    assert len(truncates) >= 3
    for truncate in truncates:
        wal = [c for c in calls if c.target.endswith("/store.db-wal")]
        wal_writes = [c for c in wal if c.name.startswith("pwrite") and c.end < truncate.start]
        synced = [c for c in wal if c.name == "fdatasync"
                  and wal_writes[-1].end < c.start and c.end < truncate.start]  # fmt: skip
        assert synced, f"{truncate.target} emptied (line {truncate.start}) before its fold synced"


@pytest.fixture(autouse=True)
def _strace_present() -> None:
    if subprocess.run(["strace", "-V"], capture_output=True).returncode != 0:
        pytest.fail("strace is not installed (Debian: apt-get install strace)")
