"""The `grub` slot backend: real A/B partitions, the choice kept in GRUB's environment
block (read and written with `grub-editenv`, so GRUB reads exactly what we wrote).

Variables, per slot S in a, b: `corral_S_priority`, `corral_S_tries`,
`corral_S_successful` (0/1), `corral_S_version`; and `corral_booted`, which GRUB_CFG
sets when it picks a slot. Payloads are raw file-system images copied onto the slot's
device (any path: a partition, a loop device or a plain file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from corral.updated.slots import SLOT_NAMES, BootState, SlotError, SlotState, initial_state

# The boot loader's half, for grub.cfg: the same rule as `slots.choose_boot` for one or
# two tries (GRUB's script has no arithmetic, so each count is spelled out).
GRUB_CFG = """\
load_env
set corral_pick=""
for s in a b; do
  eval "set p=\\$corral_${s}_priority t=\\$corral_${s}_tries ok=\\$corral_${s}_successful"
  if [ "$p" != "0" -a "$p" != "" ]; then
    if [ "$ok" = "1" -o "$t" = "1" -o "$t" = "2" ]; then
      if [ "$corral_pick" = "" -o "$p" -gt "$corral_best" ]; then
        set corral_pick=$s; set corral_best=$p
      fi
    fi
  fi
done
eval "set ok=\\$corral_${corral_pick}_successful t=\\$corral_${corral_pick}_tries"
if [ "$ok" != "1" ]; then
  if [ "$t" = "2" ]; then set t=1; else set t=0; fi
  eval "set corral_${corral_pick}_tries=$t"
  save_env corral_a_tries corral_b_tries
fi
set corral_booted=$corral_pick
save_env corral_booted
"""


class GrubSlots:
    """Slots as two block devices, with the boot choice in GRUB's environment block."""

    def __init__(self, env_file: Path, devices: dict[str, str], editenv: str = "grub-editenv",
                 initial_version: str = "0.0.0") -> None:  # fmt: skip
        missing = set(SLOT_NAMES) - set(devices)
        if missing:
            raise SlotError(f"grub backend: no device for slot(s) {', '.join(sorted(missing))}")
        self.env_file = env_file
        self.devices = devices
        self.editenv = editenv
        self.initial_version = initial_version

    def _run(self, *args: str) -> str:
        try:
            out = subprocess.run([self.editenv, str(self.env_file), *args], check=True,
                                 capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            raise SlotError(f"{self.editenv} not found (install grub-common)") from None
        except subprocess.CalledProcessError as exc:
            raise SlotError(f"{self.editenv} {' '.join(args)}: {exc.stderr.strip()}") from None
        return out.stdout

    def load(self) -> BootState:
        if not self.env_file.exists():
            self._run("create")
        env = dict(line.split("=", 1) for line in self._run("list").splitlines() if "=" in line)
        if "corral_booted" not in env:
            state = initial_state(self.initial_version)
            self.save(state)
            return state
        try:
            slots = {
                s: SlotState(int(env.get(f"corral_{s}_priority", "0")),
                             int(env.get(f"corral_{s}_tries", "0")),
                             env.get(f"corral_{s}_successful", "0") == "1",
                             env.get(f"corral_{s}_version", ""))
                for s in SLOT_NAMES
            }  # fmt: skip
        except ValueError as exc:
            raise SlotError(f"{self.env_file}: unreadable slot variables ({exc})") from None
        booted = env["corral_booted"]
        if booted not in SLOT_NAMES:
            raise SlotError(f"{self.env_file}: corral_booted={booted!r} is not a or b")
        return BootState(booted, slots)

    def save(self, state: BootState) -> None:
        pairs = [f"corral_booted={state.booted}"]
        for s in SLOT_NAMES:
            st = state.slot(s)
            pairs += [f"corral_{s}_priority={st.priority}", f"corral_{s}_tries={st.tries}",
                      f"corral_{s}_successful={int(st.successful)}",
                      f"corral_{s}_version={st.version}"]  # fmt: skip
        # one invocation: grub-editenv rewrites the 1 KiB block in one write
        self._run("set", *pairs)

    def write(self, name: str, payload: Path) -> None:
        with open(payload, "rb") as src, open(self.devices[name], "r+b" if os.path.exists(
                self.devices[name]) else "wb") as dst:  # fmt: skip
            shutil.copyfileobj(src, dst, 1 << 20)
            if Path(self.devices[name]).is_file():
                dst.truncate()  # a plain file standing in for a partition
            dst.flush()
            os.fsync(dst.fileno())

    def location(self, name: str) -> str:
        return self.devices[name]
