"""Every rejection from the trust library surfaces as a clear status on the machine
(REPORTING_ERROR_EVENT with the rejection's kind and reason) and never as a reboot or a
staged slot. The mirror is real (signed by corral-mirror, served over HTTP) and each
case tampers with it as an attacker or a broken transfer would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from updated_harness import Clock, Machine, UpstreamMirror, ctl, history, status

from corral.updated import records as r


def _release(mirror: UpstreamMirror, channel: str = "stable") -> Path:
    return mirror.dir / "channels" / channel / "release.json"


def bad_signature(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    body = json.loads(_release(mirror).read_text())
    body["signed"] = body["signed"].replace('"1.1.0"', '"1.1.1"')
    _release(mirror).write_text(json.dumps(body))


def threshold_not_met(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    body = json.loads(_release(mirror).read_text())
    body["signatures"] = body["signatures"][:1]
    _release(mirror).write_text(json.dumps(body))


def expired(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    clock.now += timedelta(days=60)  # releases expire after 30 days unless re-signed


def rollback(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    # the machine saw serial 2 (a re-signed 1.0.0) below; serve serial 1 again
    shutil.copy(mirror.dir / "channels" / "stable" / "1.json", _release(mirror))


def downgrade(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    # a host installed from a newer image than the channel now offers
    state = machine.slots.load()
    machine.slots.save(state.with_slot("a", replace(state.slot("a"), version="1.5.0")))
    machine.updater.after_boot()
    mirror.publish("1.1.0", b"system 1.1.0\n")


def too_large(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    with open(mirror.pool_file("1.1.0"), "ab") as f:
        f.write(b"endless data" * 1000)


def wrong_hash(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    mirror.pool_file("1.1.0").write_bytes(b"SYSTEM 1.1.0\n")


def mix_and_match(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"beta 1.1.0\n", channel="beta")
    shutil.copy(_release(mirror, "beta"), _release(mirror))


def unreachable(mirror: UpstreamMirror, clock: Clock, machine: Machine) -> None:
    mirror.publish("1.1.0", b"system 1.1.0\n")
    mirror.stop()


CASES: list[tuple[Callable[[UpstreamMirror, Clock, Machine], None], str]] = [
    (bad_signature, "BadSignature"),
    (threshold_not_met, "ThresholdNotMet"),
    (expired, "ExpiredDocument"),
    (rollback, "RollbackAttack"),
    (downgrade, "DowngradeRefused"),
    (too_large, "PayloadTooLarge"),
    (wrong_hash, "PayloadHashMismatch"),
    (mix_and_match, "MixAndMatch"),
    (unreachable, "DownloadError"),
]


@pytest.mark.parametrize("tamper, kind", CASES, ids=[k for _, k in CASES])
def test_rejection_is_a_clear_status_never_a_reboot(tamper, kind, store, upstream, signers,
                                                    tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    clock = Clock()
    m = Machine(tmp_path, "m1", store.url, url, signers, clock=clock)
    upstream.cli("resign", str(upstream.dir), "--channel", "stable",
                 "--key", signers.alice, "--key", signers.bob)  # fmt: skip
    m.updater.after_boot()
    m.updater.step()
    assert status(store.url, "m1").note == "up to date (1.0.0)"
    tamper(upstream, clock, m)
    ctl(store.url, "update", "check", "m1")
    for _ in range(3):
        m.updater.step()
    s = status(store.url, "m1")
    assert s.status == r.ERROR
    assert s.error.startswith(f"{kind}: ") and len(s.error) > len(kind) + 10
    assert m.reboots() == 0
    slots = m.slots.load()
    assert slots.booted == "a" and slots.slot("b").priority == 0
    assert history(store.url, "m1")[-1] == "error"
    rc, out = ctl(store.url, "update", "status")
    assert rc == 0 and kind in out
