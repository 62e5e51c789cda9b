"""A/B boot counting: the boot loader's rule, the directory backend and the GRUB
backend (grub-editenv on an environment block file, as GRUB reads it; slots on loop
devices over image files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corral.updated.firmware import main as firmware_main
from corral.updated.slot_directory import DirectorySlots
from corral.updated.slot_grub import GRUB_CFG, GrubSlots
from corral.updated.slots import (
    SlotError,
    choose_boot,
    initial_state,
    invalidate,
    mark_bad,
    mark_good,
    stage,
)


def test_a_staged_slot_boots_once_then_falls_back_for_good():
    state = stage(initial_state("1.0.0"), "b", "1.1.0")
    first = choose_boot(state)
    assert first.booted == "b" and first.slot("b").tries == 0
    # not marked good during that boot: the next boot goes back to a, and b never again
    second = choose_boot(first)
    assert second.booted == "a"
    assert choose_boot(second).booted == "a"


def test_a_slot_marked_good_keeps_booting_and_the_old_one_becomes_passive():
    state = mark_good(choose_boot(stage(initial_state("1.0.0"), "b", "1.1.0")), "b")
    assert choose_boot(state).booted == "b"
    assert state.passive == "a"
    nxt = choose_boot(stage(state, "a", "1.2.0"))
    assert nxt.booted == "a" and nxt.slot("a").version == "1.2.0"


def test_a_slot_marked_bad_is_skipped_and_with_no_bootable_slot_boot_fails():
    state = mark_bad(choose_boot(stage(initial_state("1.0.0"), "b", "1.1.0")), "b")
    assert choose_boot(state).booted == "a"
    with pytest.raises(SlotError, match="no bootable slot"):
        choose_boot(invalidate(state, "a"))


def test_directory_backend_keeps_state_and_payload_across_instances(tmp_path: Path):
    slots = DirectorySlots(tmp_path / "slots", initial_version="1.0.0")
    assert slots.load().booted == "a"
    payload = tmp_path / "img"
    payload.write_bytes(b"new system")
    slots.write("b", payload)
    slots.save(stage(slots.load(), "b", "1.1.0"))
    assert firmware_main([str(tmp_path / "slots")]) == 0
    again = DirectorySlots(tmp_path / "slots").load()
    assert again.booted == "b" and again.slot("b").version == "1.1.0"
    assert Path(slots.location("b")).read_bytes() == b"new system"


def test_directory_backend_refuses_a_corrupt_state_file_clearly(tmp_path: Path):
    (tmp_path / "slots.json").write_text("{not json")
    with pytest.raises(SlotError, match="unreadable slot state"):
        DirectorySlots(tmp_path).load()


def test_grub_backend_round_trips_through_grub_editenv(tmp_path: Path):
    env = tmp_path / "grubenv"
    devices = {"a": str(tmp_path / "part-a"), "b": str(tmp_path / "part-b")}
    slots = GrubSlots(env, devices, initial_version="1.0.0")
    assert slots.load().booted == "a"
    assert env.stat().st_size == 1024  # a real GRUB environment block
    payload = tmp_path / "img"
    payload.write_bytes(b"x" * 5000)
    slots.write("b", payload)
    slots.save(choose_boot(stage(slots.load(), "b", "1.1.0")))
    listed = subprocess.run(["grub-editenv", str(env), "list"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert "corral_booted=b" in listed
    assert "corral_b_tries=0" in listed and "corral_b_successful=0" in listed
    state = GrubSlots(env, devices).load()
    assert state.booted == "b" and state.slot("b").version == "1.1.0"
    assert Path(devices["b"]).read_bytes() == b"x" * 5000


def test_grub_backend_needs_both_devices():
    with pytest.raises(SlotError, match="no device for slot"):
        GrubSlots(Path("/nonexistent"), {"a": "/dev/null"})


def test_grub_cfg_snippet_is_valid_grub_script(tmp_path: Path):
    cfg = tmp_path / "corral.cfg"
    cfg.write_text(GRUB_CFG)
    done = subprocess.run(["grub-script-check", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_grub_backend_writes_slots_on_loop_devices(tmp_path: Path):
    images = {s: tmp_path / f"disk-{s}.img" for s in ("a", "b")}
    devices: dict[str, str] = {}
    try:
        for s, image in images.items():
            with open(image, "wb") as f:
                f.truncate(1 << 20)
            devices[s] = subprocess.run(["losetup", "-f", "--show", str(image)],
                                        capture_output=True, text=True,
                                        check=True).stdout.strip()  # fmt: skip
        slots = GrubSlots(tmp_path / "grubenv", devices, initial_version="1.0.0")
        payload = tmp_path / "rootfs.img"
        payload.write_bytes(b"root file system 1.1.0" * 1000)
        state = slots.load()
        slots.save(invalidate(state, state.passive))
        slots.write(state.passive, payload)
        slots.save(stage(slots.load(), state.passive, "1.1.0"))
        assert choose_boot(slots.load()).booted == "b"
        assert images["b"].read_bytes()[:22000] == payload.read_bytes()
        assert images["a"].read_bytes() == bytes(1 << 20)  # the running slot untouched
    finally:
        for dev in devices.values():
            subprocess.run(["losetup", "-d", dev], check=False)
