"""Five simulated hosts on 127.0.0.1 (a corral-fleet agent and corral-updated each, as
processes; directory slots; a reboot command that restarts the host's daemons after the
boot loader flipped its slot), one corral-store and one mirror served over HTTP."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from updated_cluster import UpdateCluster, reboot_intervals
from updated_harness import ctl

from corral.updated import records as r

UNITS = ("web-1.service", "web-2.service", "web-3.service")
MACHINES = tuple(f"host{i}" for i in range(1, 6))


@pytest.fixture
def cluster(store, upstream, signers, tmp_path: Path) -> Iterator[UpdateCluster]:
    c = UpdateCluster(tmp_path / "hosts", store.url, upstream.serve(), signers)
    try:
        yield c
    finally:
        c.close()


def _start(cluster: UpdateCluster, tmp_path: Path) -> None:
    assert ctl(cluster.endpoint, "lock", "set-max", "1")[0] == 0
    for mid in MACHINES:
        cluster.add(mid, "--strategy", "lock")
    cluster.wait(lambda: all(s.version == "1.0.0" and s.status == r.IDLE and s.note
                             for s in cluster.statuses().values())
                 and len(cluster.statuses()) == 5, 60, "five hosts up on 1.0.0")  # fmt: skip
    cluster.wait(lambda: len(cluster.scheduler().machines) == 5, 30, "five fleet agents")
    files = []
    for unit in UNITS:
        path = tmp_path / unit
        path.write_text("[Service]\nExecStart=/bin/sleep 3600\n")
        files.append(str(path))
    assert ctl(cluster.endpoint, "unit", "start", "--no-block", *files)[0] == 0
    cluster.wait(lambda: all(cluster.running(u) for u in UNITS), 30, "units running")


def test_a_release_rolls_through_one_host_at_a_time(cluster, upstream, tmp_path: Path):
    _start(cluster, tmp_path)
    upstream.publish("1.1.0", b"system 1.1.0\n")
    last_seen = {u: time.monotonic() for u in UNITS}
    longest_gap = 0.0
    most_holders = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        most_holders = max(most_holders, len(cluster.lock().holders))
        now = time.monotonic()
        for u in UNITS:
            if cluster.running(u):
                last_seen[u] = now
            longest_gap = max(longest_gap, now - last_seen[u])
        statuses = cluster.statuses()
        if (all(s.version == "1.1.0" and s.status == r.IDLE for s in statuses.values())
                and not cluster.lock().holders):  # fmt: skip
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"rollout did not finish\n{cluster.logs()}")
    assert most_holders <= 1
    # never two hosts between "reboot" and "good" at once
    intervals = sorted(i for mid in MACHINES for i in reboot_intervals(cluster, mid))
    assert len(intervals) == 5, intervals
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert end <= start, f"two hosts rebooting at once: {intervals}"
    for mid in MACHINES:
        events = [e.event for e in cluster.history(mid)]
        assert events == ["installed", "reboot", "good"], (mid, events)
    # units kept running somewhere: each was away only while it moved off a draining host
    cluster.wait(lambda: all(cluster.running(u) for u in UNITS), 30, "units running at the end")
    print(f"longest time a unit ran nowhere: {longest_gap:.1f}s")
    assert longest_gap < 15, f"a unit was down {longest_gap:.1f}s"
    assert not any(m.drained for m in cluster.scheduler().machines.values())


def test_a_release_failing_its_health_check_stops_at_the_first_host(cluster, upstream,
                                                                     tmp_path: Path):  # fmt: skip
    _start(cluster, tmp_path)
    upstream.publish("1.1.0", b"BROKEN system 1.1.0\n")
    cluster.wait(lambda: any(s.rollback for s in cluster.statuses().values()), 120,
                 "a rollback")  # fmt: skip
    first = next(m for m, s in cluster.statuses().items() if s.rollback)
    cluster.wait(lambda: cluster.statuses()[first].status == r.IDLE
                 and not cluster.lock().holders, 60, "first host back on 1.0.0")  # fmt: skip
    # give the others several check intervals: none reboots into the bad release
    end = time.monotonic() + 8
    while time.monotonic() < end:
        assert len(cluster.lock().holders) <= 1
        time.sleep(0.5)
    others = [m for m in MACHINES if m != first]
    # each of the others says why it does not install (between two of its checks)
    cluster.wait(lambda: all(cluster.statuses()[m].status == r.IDLE
                             and "corralctl update clear" in cluster.statuses()[m].note
                             for m in others), 30, "others refusing the release")  # fmt: skip
    statuses = cluster.statuses()
    assert all(s.version == "1.0.0" for s in statuses.values()), statuses
    for mid in MACHINES:
        events = [e.event for e in cluster.history(mid)]
        if mid == first:
            assert events == ["installed", "reboot", "rollback", "reboot", "back"], events
        else:
            assert events == [], (mid, events)  # never installed: the canary failed first
    assert "1.1.0 rolled back" in statuses[first].rollback
    rc, out = ctl(cluster.endpoint, "update", "status")
    assert rc == 0 and "bad release" in out and "corralctl update clear" in out
