"""Puppet drives updates without fighting the engine: the `corral_update` type holds and
releases a machine's updates and asks for the staged reboot, with corral-updated on the
`external` strategy (in-process, directory slots) and Debian's real `puppet apply`."""

from __future__ import annotations

from pathlib import Path

from coexistence_support import Puppet
from updated_harness import Machine, status

from corral.updated import records as r


def _manifest(tmp_path: Path, endpoint: str, **properties: str) -> str:
    body = "".join(f"  {k} => {v},\n" for k, v in properties.items())
    path = tmp_path / "site.pp"
    path.write_text(
        "corral_update { 'm1':\n"
        f"  endpoint => '{endpoint}',\n"
        f"{body}}}\n"
    )
    return str(path)


def _apply(puppet: Puppet, manifest: str, *flags: str) -> str:
    got = puppet("apply", "--detailed-exitcodes", *flags, manifest)
    # --detailed-exitcodes: 0 nothing changed, 2 changes, 4/6 failures
    assert got.returncode in (0, 2), got.stdout + got.stderr
    return got.stdout + f"\nexit={got.returncode}"


def test_puppet_holds_releases_and_reboots_a_machine(puppet: Puppet, store, upstream, signers,
                                                     tmp_path: Path) -> None:  # fmt: skip
    url = upstream.serve()
    # checks the mirror at every step, so a release shows as soon as the hold ends
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="external", interval=0.0)
    m.updater.after_boot()

    held = _manifest(tmp_path, store.url, hold="held")
    assert "exit=2" in _apply(puppet, held)  # hold changed 'released' to 'held'
    assert "exit=0" in _apply(puppet, held)  # a second run changes nothing

    upstream.publish("1.1.0", b"system 1.1.0\n")
    for _ in range(3):
        m.updater.step()
    assert status(store.url, "m1").status != r.NEED_REBOOT  # held: nothing installed

    released = _manifest(tmp_path, store.url, hold="released")
    out = _apply(puppet, released, "--noop")
    assert "current_value 'held', should be 'released' (noop)" in out, out
    for _ in range(2):
        m.updater.step()
    assert status(store.url, "m1").status != r.NEED_REBOOT  # --noop changed nothing

    assert "exit=2" in _apply(puppet, released)
    for _ in range(3):
        m.updater.step()
    assert status(store.url, "m1").status == r.NEED_REBOOT and m.reboots() == 0

    reboot = _manifest(tmp_path, store.url, hold="released", reboot="when_staged")
    assert "exit=2" in _apply(puppet, reboot)  # the reboot is asked for once...
    assert "exit=0" in _apply(puppet, reboot)  # ...and not again while it is pending
    m.updater.step()
    assert m.reboots() == 1
    assert m.boot() == "b" and status(store.url, "m1").version == "1.1.0"
    assert "exit=0" in _apply(puppet, reboot)  # nothing staged any more
