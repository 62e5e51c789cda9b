"""Channel, strategy and windows set in the store (`corralctl update set/unset`) steer a
running updater without a restart: in-process against a real corral-store and a real HTTP
mirror with two channels, as `corralctl update status` shows it to an operator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from updated_harness import Clock, Machine, ctl, history, status

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.updated import records as r


def steps(machine: Machine, count: int = 3) -> None:
    for _ in range(count):
        machine.updater.step()


def _status_row(endpoint: str, machine: str) -> list[str]:
    rc, out = ctl(endpoint, "update", "status")
    assert rc == 0, out
    return next(line.split("\t") for line in out.splitlines() if line.startswith(machine))


def test_a_new_channel_is_checked_at_once_and_a_lower_version_needs_downgrade(
    store, upstream, signers, tmp_path: Path
):
    url = upstream.serve()
    upstream.publish("1.1.0", b"system 1.1.0 beta\n", channel="beta")
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off", interval=3600.0)
    m.updater.after_boot()
    steps(m, 2)
    s = status(store.url, "m1")
    assert (s.channel, s.status, s.version) == ("stable", r.IDLE, "1.0.0"), s
    assert s.defaults == {"channel": "stable", "strategy": "off", "windows": []}

    rc, out = ctl(store.url, "update", "set", "m1", "--channel", "beta")
    assert rc == 0 and out.strip() == 'm1: {"channel": "beta"}', out
    steps(m, 2)  # the hour between checks has not passed: the change alone checks
    s = status(store.url, "m1")
    assert (s.channel, s.status, s.new_version) == ("beta", r.NEED_REBOOT, "1.1.0"), s
    assert "settings" in history(store.url, "m1")
    cells = [c.strip() for c in _status_row(store.url, "m1")]
    assert cells[6:9] == ["beta", "off", "any"], cells

    ctl(store.url, "update", "reboot", "m1")
    m.updater.step()
    assert m.boot() == "b" and status(store.url, "m1").version == "1.1.0"

    # back to stable, behind beta: its 1.0.0 is refused, as a rollback would be
    ctl(store.url, "update", "set", "m1", "--channel", "stable")
    steps(m, 2)
    s = status(store.url, "m1")
    assert s.channel == "stable" and s.status == r.ERROR, s
    assert "lower than installed 1.1.0" in s.error and "does not allow downgrade" in s.error
    # until stable publishes a release that allows it
    payload = tmp_path / "os-1.0.5.img"
    payload.write_bytes(b"system 1.0.5\n")
    upstream.cli("publish", str(upstream.dir), str(payload), "--channel", "stable",
                 "--version", "1.0.5", "--allow-downgrade", "--key", signers.alice,
                 "--key", signers.bob)  # fmt: skip
    ctl(store.url, "update", "check", "m1")
    steps(m, 2)
    s = status(store.url, "m1")
    assert (s.status, s.new_version, s.error) == (r.NEED_REBOOT, "1.0.5", ""), s


def test_the_machines_own_settings_override_the_clusters_and_unset_falls_back(
    store, upstream, signers, tmp_path: Path
):
    url = upstream.serve()
    # 2026-01-05 is a Monday; the machine's flag window is not open at noon
    clock = Clock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    upstream.publish("1.1.0", b"system 1.1.0\n")
    from corral.updated.windows import MaintenanceWindow

    m = Machine(tmp_path, "m1", store.url, url, signers, clock=clock,
                windows=[MaintenanceWindow.parse("Sun 03:00 1h")])  # fmt: skip
    m.updater.after_boot()
    assert ctl(store.url, "update", "set", "--all", "--strategy", "external")[0] == 0
    steps(m, 3)
    s = status(store.url, "m1")
    assert (s.status, s.strategy) == (r.NEED_REBOOT, "external") and m.reboots() == 0
    assert "corralctl update reboot m1" in s.note

    # the machine's own record: strategy reboot, in a window that is not open now
    ctl(store.url, "update", "set", "m1", "--strategy", "reboot", "--window", "Tue 02:00 1h")
    steps(m, 2)
    s = status(store.url, "m1")
    assert (s.strategy, s.windows) == ("reboot", ["Tue 02:00 1h"]) and m.reboots() == 0
    assert s.note == "waiting for a maintenance window"
    # unset the machine's windows: the flag's Sunday window applies again, still shut
    ctl(store.url, "update", "unset", "m1", "--windows")
    steps(m, 2)
    assert status(store.url, "m1").windows == ["Sun 03:00 1h"] and m.reboots() == 0
    # the cluster says any time: the machine's strategy reboot and the cluster's windows
    ctl(store.url, "update", "set", "--all", "--any-time")
    m.updater.step()
    assert m.reboots() == 1


def test_a_bad_record_is_reported_and_the_settings_in_use_stay(
    store, upstream, signers, tmp_path: Path, caplog
):
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off")
    m.updater.after_boot()
    ctl(store.url, "update", "set", "m1", "--strategy", "external")
    steps(m, 2)
    with Client(store.url) as c:
        c.set(f"{r.CONFIG}/m1", '{"strategy": "sometimes"}')
        steps(m, 2)
        s = status(store.url, "m1")
        assert s.strategy == "external"
        assert s.config_error == (f"{r.CONFIG}/m1: strategy 'sometimes': choose one of reboot,"
                                  " lock, off, external")  # fmt: skip
        assert "settings refused, still using channel stable, strategy external" in caplog.text
        assert "config refused: " in _status_row(store.url, "m1")[-1]
        c.set(f"{r.CONFIG}/all", "not json")  # a second bad record: reported too
        m.updater.step()
        assert "not JSON" in status(store.url, "m1").config_error
        c.delete(f"{r.CONFIG}/all")
        c.set(f"{r.CONFIG}/m1", '{"strategy": "lock"}')
        m.updater.step()
    s = status(store.url, "m1")
    assert (s.strategy, s.config_error) == ("lock", "")
    assert history(store.url, "m1").count("config-error") == 2


def test_corralctl_update_set_refuses_bad_values_and_writes_nothing(store):
    for args, message in [
        (["m1", "--window", "Mon 02:00"], "expected DAYS START LENGTH"),
        (["m1", "--channel", "Beta"], "channel 'Beta'"),
        (["m1"], "give --channel, --strategy, --window or --any-time"),
        (["--channel", "beta"], "give a machine ID or --all, not neither"),
        (["m1", "--window", "daily 02:00 1h", "--any-time"], "not both"),
    ]:
        rc, out = ctl(store.url, "update", "set", *args)
        assert rc == 1 and message in out, out
    rc, out = ctl(store.url, "update", "unset", "m1")
    assert rc == 1 and f"nothing is set at {r.CONFIG}/m1" in out
    with Client(store.url) as c, pytest.raises(KeyNotFound):
        c.get(r.CONFIG)
