"""corral-updated converges from any state: it reads what is staged, booted and on
trial from the slots on every start and pass, not from its memory of what it did. A
reboot by hand, the daemon killed or the power lost after each change to the slots,
and the store cut at each step all end with the release proven (or, when the power
went during its health gate, rolled back and marked bad), and reported so."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from updated_faults import StoreLink
from updated_harness import Machine, history, status

from corral.client import Client, StoreError
from corral.updated import records as r
from corral.updated.firmware import boot
from corral.updated.health import HealthChecks
from corral.updated.slot_directory import DirectorySlots
from corral.updated.slots import BootState

BROKEN_CHECK = HealthChecks(commands=('! grep -q BROKEN "$CORRAL_SLOT_PATH"',), timeout=0.3,
                            interval=0.1)  # fmt: skip


class PowerCut(BaseException):
    """The machine stops here: nothing in the daemon catches it."""


class CutSlots(DirectorySlots):
    """Directory slots that lose power right after their `at`-th change lands."""

    def __init__(self, base: Path, at: int) -> None:
        super().__init__(base)
        self.left = at

    def _changed(self) -> None:
        self.left -= 1
        if self.left == 0:
            raise PowerCut

    def save(self, state: BootState) -> None:
        super().save(state)
        self._changed()

    def write(self, name: str, payload: Path) -> None:
        super().write(name, payload)
        self._changed()


def reports(url: str, machine: str) -> dict[str, str]:
    """A machine's reports in the store: release id -> verdict (failed, proven)."""
    with Client(url) as c:
        try:
            nodes = c.get(f"{r.REPORTS}/{machine}").node.nodes
        except StoreError:
            return {}
    return {n.key.rsplit("/", 1)[1]: r.decode(r.Verdict, n.value).verdict for n in nodes}


def drive(m: Machine, passes: int = 8) -> None:
    """The daemon's loop, with the harness's reboots: each reboot command boots."""
    for _ in range(passes):
        before = m.reboots()
        m.updater.step()
        if m.reboots() > before:
            m.boot()


def released(m: Machine, upstream, store_url: str) -> str:
    with Client(store_url) as c:
        c.set(f"{r.ALIVE}/{m.machine_id}", "alive", ttl=60)
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    return ""


@pytest.mark.parametrize("strategy", ["off", "reboot"])
def test_a_reboot_by_hand_into_the_staged_slot_is_proven_and_checking_goes_on(
        strategy, store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy=strategy)
    released(m, upstream, store.url)
    m.updater.step()
    staged = status(store.url, "m1")
    assert staged.status == r.NEED_REBOOT and m.reboots() == 0
    # an operator reboots (or the power goes): the boot loader takes the staged slot
    assert m.boot() == "b"
    s = status(store.url, "m1")
    assert (s.status, s.version, s.slot, s.new_version) == (r.IDLE, "1.1.0", "b", "")
    assert m.slots.load().slot("b").successful
    assert reports(store.url, "m1") == {staged.release_id: r.PROVEN}
    m.updater.next_check = 0
    drive(m, 2)
    s = status(store.url, "m1")
    assert (s.status, s.note) == (r.IDLE, "up to date (1.1.0)")
    assert m.reboots() == 0  # no second reboot into what already runs


@pytest.mark.parametrize("how, at", [
    ("killed", 1), ("killed", 2), ("killed", 3), ("killed", 4),
    # before staging, a power cut boots the same slot as a restart finds
    ("power", 3), ("power", 4),
], ids=["invalidated", "written", "staged", "marked-good", "staged-power",
        "marked-good-power"])  # fmt: skip
def test_a_daemon_stopped_after_each_slot_change_converges(how, at, store, upstream, signers,
                                                           tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers)
    released(m, upstream, store.url)
    m.slots = m.updater.slots = CutSlots(m.slots.base, at)  # a reboot keeps it
    with pytest.raises(PowerCut):
        drive(m, 4)
    m.slots = DirectorySlots(m.slots.base)
    if how == "power":
        m.boot()  # the boot loader runs, then the daemon starts
    else:
        m.updater = m._updater()  # the daemon alone starts again
        m.updater.after_boot()
    drive(m)
    s = status(store.url, "m1")
    assert (s.status, s.version, s.slot, s.error) == (r.IDLE, "1.1.0", "b", ""), s
    assert m.slots.load().slot("b").successful
    assert Path(m.slots.location("b")).read_bytes() == b"system 1.1.0\n"
    assert list(reports(store.url, "m1").values()) == [r.PROVEN]
    # one reboot, by the daemon or by the power cut: never a second one into b
    assert m.reboots() == (0 if (how, at) == ("power", 3) else 1)
    assert list((m.base / "state" / "downloads").iterdir()) == []


def test_a_daemon_killed_before_its_reboot_back_reboots_back(store, upstream, signers,
                                                             tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, health=BROKEN_CHECK)
    released(m, upstream, store.url)
    upstream.publish("1.2.0", b"BROKEN system\n")
    drive(m, 1)
    boot(m.slots.base)
    m.updater = m._updater()
    m.updater.slots = CutSlots(m.slots.base, 1)  # killed once slot b is marked bad
    with pytest.raises(PowerCut):
        m.updater.after_boot()
    before = m.reboots()
    m.updater = m._updater()
    m.updater.after_boot()
    assert m.reboots() == before + 1  # it reboots back, not run the gate again
    assert m.boot() == "a"
    s = status(store.url, "m1")
    assert (s.status, s.version) == (r.IDLE, "1.0.0") and "1.2.0 rolled back" in s.rollback
    assert [(rid.split("-")[2], v) for rid, v in reports(store.url, "m1").items()] == [
        ("1.2.0", r.FAILED)]


@pytest.mark.parametrize("where", ["check", "reboot", "gate"])
def test_a_store_outage_at_each_step_ends_proven(where, store, upstream, signers,
                                                 tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    link = StoreLink(store.url)
    try:
        m = Machine(tmp_path, "m1", link.url, url, signers)
        other = Machine(tmp_path, "m2", store.url, url, signers)
        released(m, upstream, store.url)
        released(other, upstream, store.url)
        if where in ("reboot", "gate"):
            m.updater.step()  # staged
        if where == "gate":
            m.updater.step()  # the reboot command ran
            assert m.reboots() == 1
        link.cut()
        if where == "gate":  # the machine comes up while the store is out of reach
            assert boot(m.slots.base) == "b"
            m.updater = m._updater()
            with contextlib.suppress(StoreError):
                m.updater.after_boot()
        for _ in range(3):  # the daemon's loop: a store error is logged, then again
            with contextlib.suppress(StoreError):
                m.updater.step()
        link.mend()
        drive(m)  # the same daemon, not restarted
        s = status(store.url, "m1")
        assert (s.status, s.version, s.slot) == (r.IDLE, "1.1.0", "b"), s
        assert m.slots.load().slot("b").successful
        assert list(reports(store.url, "m1").values()) == [r.PROVEN]
        # the rollout goes on: the next machine installs the proven release
        drive(other, 1)
        assert status(store.url, "m2").status == r.NEED_REBOOT
    finally:
        link.close()


def test_a_failing_reboot_back_is_tried_again_each_pass_and_recorded_once(
        store, upstream, signers, tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, health=BROKEN_CHECK)
    m.updater.after_boot()
    upstream.publish("1.1.0", b"BROKEN system\n")
    m.updater.step()
    m.updater.step()
    assert m.reboots() == 1 and boot(m.slots.base) == "b"
    m.updater = m._updater()
    working = m.updater.config.reboot_command
    m.updater.config.reboot_command = "echo no >&2; exit 3"
    m.updater.after_boot()  # the gate fails; the reboot back fails too
    for _ in range(4):
        m.updater.step()
    s = status(store.url, "m1")
    assert s.status == r.ERROR and "exited 3: no" in s.error
    assert history(store.url, "m1") == ["installed", "reboot", "rollback", "reboot", "error"]
    m.updater.config.reboot_command = working  # repaired: the next pass reboots back
    m.updater.step()
    assert m.reboots() == 2 and m.boot() == "a"
    assert status(store.url, "m1").version == "1.0.0"
