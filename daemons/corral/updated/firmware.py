"""The boot loader's part for the `directory` backend: `python -m corral.updated.firmware
DIR` chooses the slot to boot (spending a try if it is on trial) and records it.

A lab's or a test's reboot command runs this, then restarts the machine's daemons; on
real hosts GRUB does the same from its environment block (see `slot_grub.GRUB_CFG`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from corral.updated.slot_directory import DirectorySlots
from corral.updated.slots import SlotError, choose_boot


def boot(base: Path) -> str:
    slots = DirectorySlots(base)
    state = choose_boot(slots.load())
    slots.save(state)
    return state.booted


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m corral.updated.firmware SLOT_DIR", file=sys.stderr)
        return 2
    try:
        print(f"booting slot {boot(Path(args[0]))}")
    except SlotError as exc:
        print(f"firmware: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
