"""The embedded backend in-process on a real SQLite file: group commit, and no read
or watch ever sees a write before it is durable."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.etcd_errors import EtcdError
from corral.store.disk import CommitError
from corral.store.embedded import EmbeddedBackend
from corral.store.keys_request import KeysRequest
from corral.store.server import start_holding_tree


def put(path: str, value: str) -> KeysRequest:
    return KeysRequest("PUT", path, value=value)


def get(path: str) -> KeysRequest:
    return KeysRequest("GET", path)


def gate_commits(
    backend: EmbeddedBackend, gate: threading.Event, fail_first: bool = False
) -> list[int]:
    """Hold every commit on the disk thread (the loop runs meanwhile) until `gate` is
    set, then make it, or fail the first one (a disk full at the commit). Returns
    the list a commit appends to as it starts."""
    real_commit = backend.disk.commit
    started: list[int] = []

    def gated_commit(*args: object) -> None:
        started.append(1)
        gate.wait(10)
        if fail_first and len(started) == 1:
            raise CommitError("disk full (simulated at the commit)")
        real_commit(*args)  # type: ignore[arg-type]

    backend.disk.commit = gated_commit  # type: ignore[method-assign]
    backend.inline_commit_max = 0
    return started


async def pipelined_backend(data: Path) -> EmbeddedBackend:
    """A started backend that applies the next batch while one commits."""
    backend = EmbeddedBackend(data)
    backend.pipeline_depth = 2
    await backend.start()
    return backend


async def until(condition: Callable[[], object]) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)


def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        try:
            before = backend.commits
            events = await asyncio.gather(*(backend.write(put(f"/k{i}", "v")) for i in range(64)))
            return len({e.index for e in events}), backend.commits - before
        finally:
            await backend.stop()

    distinct, commits = asyncio.run(main())
    assert distinct == 64
    assert commits <= 2  # one batch, or two if the first write started alone


def test_reads_wait_for_the_commit_of_what_they_would_see(tmp_path: Path) -> None:
    gate = threading.Event()

    async def main() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        await backend.write(put("/seen", "old"))
        await backend.write(put("/other", "x"))
        gate_commits(backend, gate)
        try:
            writing = asyncio.create_task(backend.write(put("/seen", "new")))
            await until(lambda: backend.committing)
            assert backend.committing
            # unrelated: answered at once, with the durable index
            other = await asyncio.wait_for(backend.read(get("/other")), 5)
            assert other.node["value"] == "x" and other.etcd_index == 2
            with pytest.raises(EtcdError) as missing:
                await asyncio.wait_for(backend.read(get("/nothing")), 5)
            assert missing.value.index == 2
            # the key being written: must wait, then sees the durable new value
            reading = asyncio.create_task(backend.read(get("/seen")))
            watching = asyncio.create_task(
                backend.watch(KeysRequest("GET", "/seen", wait=True, wait_index=3))
            )
            await asyncio.sleep(0.05)
            assert not reading.done() and not watching.done() and not writing.done()
            gate.set()
            written = await asyncio.wait_for(writing, 5)
            seen = await asyncio.wait_for(reading, 5)
            assert seen.node["value"] == "new" and seen.etcd_index == written.index == 3
            _, event = await asyncio.wait_for(watching, 5)
            assert event is not None and event.node["value"] == "new"
        finally:
            gate.set()
            await backend.stop()

    asyncio.run(main())


def test_a_batch_queued_behind_a_commit_is_answered_only_after_both_are_durable(
    tmp_path: Path,
) -> None:
    gate = threading.Event()

    async def main() -> None:
        backend = await pipelined_backend(tmp_path / "data")
        await backend.write(put("/a", "old"))
        commits_started = gate_commits(backend, gate)
        try:
            first = asyncio.create_task(backend.write(put("/a", "new")))
            await until(lambda: commits_started)
            # applied on top of the first batch, which is not durable yet: its refusal
            # ("old" is gone) and its success both wait for the first fdatasync
            refused = asyncio.create_task(
                backend.write(KeysRequest("PUT", "/a", value="x", prev_value="old"))
            )
            second = asyncio.create_task(backend.write(put("/b", "v")))
            await asyncio.sleep(0.05)
            assert not first.done() and not refused.done() and not second.done()
            assert backend.read_now(get("/b")) is None  # /b is not durable: the read waits
            gate.set()
            written = await asyncio.wait_for(first, 5)
            with pytest.raises(EtcdError) as failed:
                await asyncio.wait_for(refused, 5)
            assert failed.value.code == 101  # compare failed against the durable "new"
            assert (await asyncio.wait_for(second, 5)).index == written.index + 1
        finally:
            gate.set()
            await backend.stop()
        reopened = EmbeddedBackend(tmp_path / "data")
        await reopened.start()
        try:
            assert (await reopened.read(get("/a"))).node["value"] == "new"
            assert (await reopened.read(get("/b"))).node["value"] == "v"
        finally:
            await reopened.stop()

    asyncio.run(main())


def test_a_failed_commit_fails_the_batch_queued_behind_it_and_writes_resume(
    tmp_path: Path,
) -> None:
    gate = threading.Event()

    async def main() -> None:
        backend = await pipelined_backend(tmp_path / "data")
        await backend.write(put("/a", "durable"))
        calls = gate_commits(backend, gate, fail_first=True)
        try:
            first = asyncio.create_task(backend.write(put("/a", "lost")))
            await until(lambda: calls)
            second = asyncio.create_task(backend.write(put("/b", "lost too")))
            await asyncio.sleep(0.05)
            gate.set()
            for task in (first, second):
                with pytest.raises(EtcdError) as failed:
                    await asyncio.wait_for(task, 5)
                assert failed.value.code == 300
            assert (await backend.read(get("/a"))).node["value"] == "durable"
            with pytest.raises(EtcdError):
                await backend.read(get("/b"))
            resumed = await asyncio.wait_for(backend.write(put("/c", "ok")), 5)
            assert resumed.index == 2  # no index of the failed writes is kept
        finally:
            gate.set()
            await backend.stop()

    asyncio.run(main())


def test_writes_commit_on_the_loop_only_while_the_disk_is_quick(tmp_path: Path) -> None:
    """A quick disk: commits, of one write or of many together, skip the disk thread.
    A slow one (5 ms per commit here): after a few commits every write goes to the
    disk thread again, so reads of other keys are answered while a write waits for
    its fdatasync."""

    async def main() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        loop_thread = threading.get_ident()
        threads: list[int] = []
        real_commit = backend.disk.commit

        def timed_commit(*args: object) -> None:
            threads.append(threading.get_ident())
            if slow.is_set():
                threading.Event().wait(0.005)
            real_commit(*args)  # type: ignore[arg-type]

        slow = threading.Event()
        backend.disk.commit = timed_commit  # type: ignore[method-assign]
        try:
            await backend.write(put("/other", "x"))
            for i in range(5):
                await backend.write(put("/k", str(i)))
            assert threads[-1] == loop_thread  # a quick disk: on the loop's thread
            commits = backend.commits
            await asyncio.gather(*(backend.write(put(f"/many/{i}", "v")) for i in range(32)))
            assert backend.commits == commits + 1 and threads[-1] == loop_thread
            slow.set()
            for i in range(10):
                await backend.write(put("/k", f"slow {i}"))
            assert threads[-1] != loop_thread  # the average passed 1 ms: the disk thread
            writing = asyncio.create_task(backend.write(put("/k", "last")))
            await asyncio.sleep(0)  # the write's batch starts
            other = await asyncio.wait_for(backend.read(get("/other")), 5)
            assert other.node["value"] == "x" and not writing.done()
            assert (await asyncio.wait_for(writing, 5)).node["value"] == "last"
        finally:
            await backend.stop()

    asyncio.run(main())


def test_a_loaded_tree_is_left_out_of_later_collections(tmp_path: Path) -> None:
    """Start-up freezes what it loaded: the cyclic collector never scans those nodes
    again (a full collection over 1M keys paused every client for 0.3 s) and is on
    again once the store is up."""

    async def fill() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await backend.start()
        await asyncio.gather(*(backend.write(put(f"/d/k{i}", "v")) for i in range(2000)))
        await backend.stop()

    async def restart() -> int:
        backend = EmbeddedBackend(tmp_path / "data")
        frozen = gc.get_freeze_count()
        await start_holding_tree(backend)
        try:
            assert gc.isenabled()
            assert (await backend.read(get("/d/k1999"))).node["value"] == "v"
            return gc.get_freeze_count() - frozen
        finally:
            await backend.stop()

    asyncio.run(fill())
    try:
        assert asyncio.run(restart()) >= 2000
    finally:
        gc.unfreeze()


def test_writing_many_keys_seldom_runs_a_full_collection(tmp_path: Path) -> None:
    """Each full collection walks the whole tree (a pause for every client that grows
    with it): 40k new keys cost 7 of them at CPython's default thresholds."""
    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    async def main() -> None:
        backend = EmbeddedBackend(tmp_path / "data")
        await start_holding_tree(backend)
        gc.callbacks.append(count)
        try:
            for base in range(0, 40_000, 2000):
                keys = range(base, base + 2000)
                await asyncio.gather(*(backend.write(put(f"/many/k{i}", "v" * 256)) for i in keys))
        finally:
            gc.callbacks.remove(count)
            await backend.stop()

    thresholds = gc.get_threshold()
    try:
        asyncio.run(main())
    finally:
        gc.set_threshold(*thresholds)
    assert len(full) <= 1
