"""A release that names a `min_version` is installed only over that version or a later
one: a machine further behind reports why and stages nothing, then gets there through
a stepping-stone release (here on another channel) and takes the release after it."""

from __future__ import annotations

from pathlib import Path

from updated_harness import Machine, ctl, status

from corral.updated import records as r


def _publish(upstream, tmp_path: Path, version: str, channel: str, *extra: str) -> None:
    payload = tmp_path / f"os-{version}-{channel}.img"
    payload.write_bytes(f"system {version}\n".encode())
    upstream.cli("publish", str(upstream.dir), str(payload), "--channel", channel,
                 "--version", version, "--key", upstream.signers.alice,
                 "--key", upstream.signers.bob, *extra)  # fmt: skip


def test_a_release_is_refused_below_its_min_version_until_a_stepping_stone(
    store, upstream, signers, tmp_path: Path
):
    url = upstream.serve()
    _publish(upstream, tmp_path, "2.0.0", "stable", "--min-version", "1.5.0")
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="off", interval=3600.0)
    m.updater.after_boot()
    for _ in range(3):
        m.updater.step()
    s = status(store.url, "m1")
    assert (s.status, s.version) == (r.ERROR, "1.0.0"), s
    assert s.error == ("MinVersion: 2.0.0 updates only from 1.5.0 or later; "
                       "1.0.0 is installed"), s  # fmt: skip
    assert s.new_version in ("", None) and m.reboots() == 0, s

    # the stepping stone: 1.5.0 on its own channel, installed and booted
    _publish(upstream, tmp_path, "1.5.0", "bridge")
    assert ctl(store.url, "update", "set", "m1", "--channel", "bridge")[0] == 0
    for _ in range(3):
        m.updater.step()
    assert status(store.url, "m1").new_version == "1.5.0"
    ctl(store.url, "update", "reboot", "m1")
    m.updater.step()
    m.boot()
    assert status(store.url, "m1").version == "1.5.0"

    # back on stable, 2.0.0 now applies
    assert ctl(store.url, "update", "set", "m1", "--channel", "stable")[0] == 0
    for _ in range(3):
        m.updater.step()
    s = status(store.url, "m1")
    assert (s.status, s.new_version, s.error) == (r.NEED_REBOOT, "2.0.0", ""), s
