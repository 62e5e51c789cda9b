"""The update engine in-process against a real corral-store and a real HTTP mirror
(corral-mirror serve): staging, reboots, the health gate, rollback, holds, windows and
the external strategy. The reboot command is real (it appends to a file); the boot
loader is `corral.updated.firmware`."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from updated_harness import Clock, Machine, ctl, history, status

from corral.client import Client
from corral.updated import records as r
from corral.updated.health import HealthChecks
from corral.updated.slots import invalidate

BROKEN_CHECK = HealthChecks(commands=('! grep -q BROKEN "$CORRAL_SLOT_PATH"',), timeout=0.3,
                            interval=0.1)  # fmt: skip


def steps(machine: Machine, count: int = 3) -> None:
    for _ in range(count):
        machine.updater.step()


def statuses_since(url: str, machine: str, index: int) -> list[str]:
    """Every status `machine` published after the store's `index`, in order."""
    key = f"{r.MACHINES}/{machine}"
    seen: list[str] = []
    with Client(url) as c:
        last = c.get(key).node.modified_index
        while index < last:
            result = c.watch(key, index=index + 1, timeout=5)
            index = result.node.modified_index
            seen.append(r.decode(r.MachineStatus, result.node.value).status)
    return seen


def test_a_new_release_is_staged_rebooted_into_and_marked_good(store, upstream, signers,
                                                                tmp_path: Path):
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers)
    m.updater.after_boot()
    steps(m)
    assert status(store.url, "m1").note == "up to date (1.0.0)" and m.reboots() == 0
    upstream.publish("1.1.0", b"system 1.1.0\n")
    assert ctl(store.url, "update", "check", "m1")[0] == 0
    m.updater.step()
    s = status(store.url, "m1")
    assert (s.status, s.new_version, s.progress) == (r.NEED_REBOOT, "1.1.0", 1.0)
    assert m.slots.load().slot("b").tries == 1
    m.updater.step()
    assert m.reboots() == 1
    with Client(store.url) as c:
        index = c.get(f"{r.MACHINES}/m1").etcd_index or 0
    assert m.boot() == "b"
    # on trial until the gate passes: never shown idle before that
    assert statuses_since(store.url, "m1", index) == [r.VERIFYING, r.IDLE]
    s = status(store.url, "m1")
    assert (s.status, s.version, s.slot) == (r.IDLE, "1.1.0", "b")
    assert m.slots.load().slot("b").successful
    assert Path(m.slots.location("b")).read_bytes() == b"system 1.1.0\n"
    assert history(store.url, "m1") == ["installed", "reboot", "good"]
    rc, out = ctl(store.url, "update", "history", "m1")
    assert rc == 0 and "good" in out and "1.1.0" in out


def test_a_release_failing_its_health_check_rolls_back_and_stops_the_rollout(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    first = Machine(tmp_path, "m1", store.url, url, signers, health=BROKEN_CHECK)
    other = Machine(tmp_path, "m2", store.url, url, signers, health=BROKEN_CHECK)
    for m in (first, other):
        m.updater.after_boot()
    upstream.publish("1.1.0", b"BROKEN system\n")
    steps(first)
    assert first.reboots() == 1 and first.boot() == "b"
    # the gate failed: slot b is bad, the release is marked bad, and it reboots back
    assert first.reboots() == 2
    assert status(store.url, "m1").status == r.ERROR
    assert "rolled back" in status(store.url, "m1").rollback
    assert first.boot() == "a"
    s = status(store.url, "m1")
    assert (s.status, s.version) == (r.IDLE, "1.0.0")
    assert "1.1.0 rolled back" in s.rollback and "grep -q BROKEN" in s.rollback
    assert history(store.url, "m1") == ["installed", "reboot", "rollback", "reboot", "back"]
    # no other machine installs it; the status says how to clear it
    steps(other)
    s = status(store.url, "m2")
    assert s.status == r.IDLE and other.reboots() == 0 and s.new_version == ""
    release_id = s.note.split("(")[1].split(")")[0]
    assert f"corralctl update clear {release_id}" in s.note
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and f"corralctl update clear {release_id}" in out and "m1" in out
    assert ctl(store.url, "update", "clear", release_id)[0] == 0
    assert ctl(store.url, "update", "clear", release_id)[0] == 1
    other.updater.next_check = 0
    other.updater.step()
    assert status(store.url, "m2").status == r.NEED_REBOOT


def test_hold_keeps_the_installed_version_until_released(store, upstream, signers,
                                                         tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
    m.updater.after_boot()
    assert ctl(store.url, "update", "hold", "m1")[0] == 0
    upstream.publish("1.1.0", b"system 1.1.0\n")
    steps(m)
    s = status(store.url, "m1")
    assert s.note.startswith("held") and s.new_version == ""
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and "yes" in out.splitlines()[1]
    assert ctl(store.url, "update", "release", "m1")[0] == 0
    assert ctl(store.url, "update", "release", "m1")[0] == 1  # not held any more
    ctl(store.url, "update", "check", "m1")
    steps(m)
    s = status(store.url, "m1")
    assert s.status == r.NEED_REBOOT and "strategy off" in s.note and m.reboots() == 0


def test_external_strategy_reboots_only_when_asked(store, upstream, signers, tmp_path: Path):
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="external")
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    steps(m, 4)
    assert m.reboots() == 0 and "corralctl update reboot m1" in status(store.url, "m1").note
    assert ctl(store.url, "update", "reboot", "m1")[0] == 0
    m.updater.step()
    assert m.reboots() == 1
    assert m.boot() == "b" and status(store.url, "m1").version == "1.1.0"


def test_reboots_wait_for_a_maintenance_window(store, upstream, signers, tmp_path: Path):
    url = upstream.serve()
    clock = Clock()
    opens = clock.now + timedelta(hours=2)
    window = f"daily {opens:%H:%M} 30m UTC"
    from corral.updated.windows import MaintenanceWindow

    m = Machine(tmp_path, "m1", store.url, url, signers, clock=clock,
                windows=[MaintenanceWindow.parse(window)])  # fmt: skip
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    steps(m, 3)
    assert m.reboots() == 0 and status(store.url, "m1").note == "waiting for a maintenance window"
    clock.now = opens + timedelta(minutes=31)  # just after it closed
    steps(m, 2)
    assert m.reboots() == 0
    clock.now = opens + timedelta(days=1, minutes=5)  # the next day's opening
    m.updater.step()
    assert m.reboots() == 1


def test_lock_strategy_lets_one_machine_reboot_at_a_time(store, upstream, signers,
                                                        tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    # without a canary both stage at once: only the lock keeps them apart
    machines = [Machine(tmp_path, f"m{i}", store.url, url, signers, strategy="lock",
                        canary=False) for i in (1, 2)]  # fmt: skip
    with Client(store.url) as c:  # both heartbeat, as their daemons would
        for m in machines:
            c.set(f"{r.ALIVE}/{m.machine_id}", "alive", ttl=60)
    for m in machines:
        m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    first, second = machines
    steps(first)
    steps(second)
    assert first.reboots() == 1 and second.reboots() == 0
    assert "waiting for the reboot lock (held by m1)" in status(store.url, "m2").note
    rc, out = ctl(store.url, "lock", "status")
    assert rc == 0 and out.splitlines()[:2] == ["Available: 0", "Max: 1"] and "m1" in out
    first.boot()  # healthy: the lock is released after the gate
    steps(second)
    assert second.reboots() == 1
    second.boot()
    rc, out = ctl(store.url, "lock", "status")
    assert rc == 0 and out.strip() == "Available: 1\nMax: 1"


def test_progress_is_published_while_downloading(store, upstream, signers, tmp_path: Path):
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
    m.updater.after_boot()
    upstream.publish("1.1.0", os.urandom(6 << 20))
    key = f"{r.MACHINES}/m1"
    with Client(store.url) as c:
        index = c.get(key).etcd_index or 0
        m.updater.step()
        seen: list[tuple[str, float]] = []
        while not seen or seen[-1][0] != r.NEED_REBOOT:
            result = c.watch(key, index=index + 1, timeout=5)
            index = result.node.modified_index
            s = r.decode(r.MachineStatus, result.node.value)
            seen.append((s.status, s.progress))
    order = [st for i, (st, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != st]
    assert order == [r.CHECKING, r.AVAILABLE, r.DOWNLOADING, r.VERIFYING, r.FINALIZING,
                     r.NEED_REBOOT]  # fmt: skip
    assert any(st == r.DOWNLOADING and 0 < p < 1 for st, p in seen), seen


def test_an_interrupted_download_resumes_from_its_partial_file(store, upstream, signers,
                                                               tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
    m.updater.after_boot()
    content = os.urandom(1 << 20)
    upstream.publish("1.1.0", content)
    pool = upstream.pool_file("1.1.0")
    half = len(content) // 2
    # the first half already arrived; the mirror's first half now differs, so only a
    # download that resumes (Range from the middle) ends with the right hash
    partial = m.base / "state" / "downloads" / f".{pool.name}.{pool.parent.name[:16]}.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(content[:half])
    pool.write_bytes(bytes(half) + content[half:])
    m.updater.step()
    assert status(store.url, "m1").status == r.NEED_REBOOT
    assert Path(m.slots.location("b")).read_bytes() == content


def test_checks_are_spread_by_jitter_around_the_interval(store, upstream, signers,
                                                         tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, interval=100.0, jitter=0.25)
    m.updater.after_boot()
    for draw, expected in ((0.0, 75.0), (1.0, 125.0), (0.5, 100.0)):
        m.updater.rand = lambda draw=draw: draw
        m.updater.next_check = 0
        before = time.monotonic()
        m.updater.step()
        assert abs(m.updater.next_check - before - expected) < 2
    # between checks nothing is fetched: the status keeps the last check's time
    updated = status(store.url, "m1").updated
    m.updater.step()
    assert status(store.url, "m1").updated == updated


def test_a_corrupt_lock_is_reported_and_the_daemon_keeps_running(store, upstream, signers,
                                                                  tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="lock")
    with Client(store.url) as c:
        c.set(r.LOCK, "not a semaphore")
    upstream.publish("1.1.0", b"system 1.1.0\n")
    ticks = iter(range(10))
    m.updater.run(lambda timeout: next(ticks, None) is None)
    s = status(store.url, "m1")
    assert s.status == r.ERROR and s.error.startswith("SemaphoreError: not a reboot semaphore")
    assert m.reboots() == 0
    assert history(store.url, "m1").count("error") == 1
    with Client(store.url) as c:  # repaired: the next pass takes the lock and reboots
        c.delete(r.LOCK)
    m.updater.step()
    assert m.reboots() == 1


def test_the_canary_proves_a_release_before_the_others_install_it(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    canary, other, late = (Machine(tmp_path, f"m{i}", store.url, url, signers)
                           for i in (1, 2, 3))  # fmt: skip
    with Client(store.url) as c:
        for m in (canary, other, late):
            c.set(f"{r.ALIVE}/{m.machine_id}", "alive", ttl=60)
            m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    # m3 checks first, yet the canary is the lowest live id, not the first to ask
    late.updater.step()
    other.updater.step()
    canary.updater.step()
    assert status(store.url, "m1").status == r.NEED_REBOOT
    for waiting in ("m2", "m3"):
        s = status(store.url, waiting)
        assert s.note == "release 1.1.0 waits for m1 to pass its health gate", waiting
        assert s.new_version == ""
    # a machine's own proof counts only if it is the canary: m3 cannot speak for m1
    with Client(store.url) as c:
        c.set(f"{r.REPORTS}/m3/{status(store.url, 'm1').release_id}",
              r.encode(r.Verdict(status(store.url, "m1").release_id, "1.1.0", "m3", r.PROVEN)))
    other.updater.next_check = 0
    other.updater.step()
    assert status(store.url, "m2").note.startswith("release 1.1.0 waits for m1")
    canary.updater.step()
    canary.boot()  # passes the gate: its report proves the release
    other.updater.next_check = 0
    other.updater.step()
    assert status(store.url, "m2").status == r.NEED_REBOOT
    # a canary that stops heartbeating is replaced by the next id, which proves alone
    upstream.publish("1.2.0", b"system 1.2.0\n")
    with Client(store.url) as c:
        c.delete(f"{r.ALIVE}/m1")
    other.slots.save(invalidate(other.slots.load(), "b"))  # m2 skips 1.1.0's reboot
    for m in (late, other):
        m.updater.next_check = 0
        m.updater.step()
    assert status(store.url, "m3").note == "release 1.2.0 waits for m2 to pass its health gate"
    s = status(store.url, "m2")
    assert (s.status, s.new_version) == (r.NEED_REBOOT, "1.2.0")


def test_an_operator_names_the_canary(store, upstream, signers, tmp_path: Path):
    url = upstream.serve()
    low, named = (Machine(tmp_path, f"m{i}", store.url, url, signers) for i in (1, 3))
    with Client(store.url) as c:
        for m in (low, named):
            c.set(f"{r.ALIVE}/{m.machine_id}", "alive", ttl=60)
            m.updater.after_boot()
    assert ctl(store.url, "update", "canary", "m3") == (0, "m3 is a canary\n")
    upstream.publish("1.1.0", b"system 1.1.0\n")
    low.updater.step()
    named.updater.step()
    assert status(store.url, "m1").note == "release 1.1.0 waits for m3 to pass its health gate"
    assert status(store.url, "m3").status == r.NEED_REBOOT
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and "canaries: m3" in out
    named.updater.step()
    named.boot()
    low.updater.next_check = 0
    low.updater.step()
    assert status(store.url, "m1").status == r.NEED_REBOOT
    assert ctl(store.url, "update", "canary", "m3", "--remove")[0] == 0
    assert ctl(store.url, "update", "canary", "m3", "--remove")[0] == 1
