"""The machines' verdicts on releases: what the fleet derives from them (pure), how many a
machine keeps, and the earlier layout's bad marks, still honoured and cleared."""

from __future__ import annotations

from pathlib import Path

from updated_harness import Machine, ctl, status

from corral.client import Client
from corral.updated import records as r
from corral.updated.reports import MAX_REPORTS, read_reports, write_report
from corral.updated.verdicts import Candidate, canary, failures, proven_by


def _v(machine: str, verdict: str, release: str = "rel") -> r.Verdict:
    return r.Verdict(release, "1.1.0", machine, verdict)


def test_the_canary_is_the_lowest_live_id_on_the_channel_or_a_named_one() -> None:
    machines = [Candidate("m1", False, "stable", False),  # silent
                Candidate("m2", True, "beta", False),  # another channel
                Candidate("m3", True, "stable", True),  # held
                Candidate("m4", True, "stable", False),
                Candidate("m5", True, "stable", False)]  # fmt: skip
    assert canary("m5", "stable", [], machines) == "m4"
    assert canary("m4", "stable", [], machines) == "m4"
    assert canary("m0", "stable", [], machines) == "m0"  # a lower id than every other
    assert canary("m5", "stable", ["m1", "m4"], machines) == "m4"  # m1 does not heartbeat
    assert canary("m5", "stable", ["m1"], machines) == "m1"  # named: waited for anyway
    assert canary("m1", "stable", ["m1"], machines) == "m1"


def test_only_a_canary_proves_and_any_machine_halts() -> None:
    reports = {"m3": {"rel": _v("m3", r.PROVEN)}, "m5": {"rel": _v("m5", r.FAILED)}}
    assert proven_by(reports, "rel", [], "m4") == "m3"  # m3 was the canary while it ran
    assert proven_by(reports, "rel", [], "m2") is None  # m3 sorts after the canary
    assert proven_by(reports, "rel", ["m1"], "m1") is None  # not a named canary
    assert proven_by(reports, "rel", ["m3"], "m3") == "m3"
    assert proven_by(reports, "other", [], "m9") is None
    assert [v.machine for v in failures(reports, "rel")] == ["m5"]


def test_a_machine_keeps_only_its_latest_reports_and_its_failures_longest(store) -> None:
    with Client(store.url) as c:
        write_report(c, r.Verdict("rel-bad", "0.9.0", "m1", r.FAILED))
        for i in range(MAX_REPORTS + 3):
            write_report(c, r.Verdict(f"rel-{i:02}", "1.0.0", "m1", r.PROVEN))
        write_report(c, r.Verdict("rel-x", "1.0.0", "m2", r.FAILED))
        kept = read_reports(c)
    assert sorted(kept["m1"]) == [f"rel-{i:02}" for i in range(4, MAX_REPORTS + 3)] + [
        "rel-bad"]  # the oldest, but a failure: the proven ones went first
    assert list(kept["m2"]) == ["rel-x"]  # another machine's are its own business


def test_a_report_speaks_only_for_the_machine_its_key_names(store) -> None:
    with Client(store.url) as c:
        c.set(f"{r.REPORTS}/m3/rel", r.encode(_v("m1", r.FAILED, "other")))
        assert [(v.machine, v.release_id) for v in failures(read_reports(c), "rel")] == [
            ("m3", "rel")]


def test_the_earlier_layouts_bad_mark_still_stops_installs_until_cleared(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers)
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    m.updater.step()  # stages: find its release id, then mark it bad the earlier way
    release_id = status(store.url, "m1").release_id
    m.updater.local.staged = None
    old = r.BadRelease(release_id, "1.1.0", "m9", "gate failed", "2026-01-01T00:00:00Z")
    with Client(store.url) as c:
        c.set(f"{r.BAD}/{release_id}", r.encode(old))
    m.updater.next_check = 0
    m.updater.step()
    assert "failed its health check on m9" in status(store.url, "m1").note
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and f"bad release {release_id}" in out and "m9" in out
    assert ctl(store.url, "update", "clear", release_id)[0] == 0
    rc, out = ctl(store.url, "update", "clear", release_id)
    assert rc == 1 and "is not marked bad" in out
    m.updater.next_check = 0
    m.updater.step()
    assert status(store.url, "m1").status == r.NEED_REBOOT


def test_a_proof_of_the_earlier_layout_still_counts(store, upstream, signers, tmp_path: Path):
    """While daemons of both versions run, an earlier daemon proves with canary/<id>."""
    url = upstream.serve()
    m = Machine(tmp_path, "m2", store.url, url, signers)
    m.updater.after_boot()
    assert ctl(store.url, "update", "canary", "m1")[0] == 0  # an earlier daemon, say
    upstream.publish("1.1.0", b"system 1.1.0\n")
    m.updater.step()
    s = status(store.url, "m2")
    assert s.note == "release 1.1.0 waits for m1 to pass its health gate (it does not heartbeat)"
    with Client(store.url) as c:
        c.set(f"{r.CANARY}/{m.updater.mirror.check().release_id}", r.PROVEN)
    m.updater.next_check = 0
    m.updater.step()
    assert status(store.url, "m2").status == r.NEED_REBOOT
