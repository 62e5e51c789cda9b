"""When a staged update may reboot the machine: the strategy, an operator's request and
the maintenance windows decide (pure; the lock and the drain come after, in the engine).

- `reboot` and `lock`: inside a maintenance window (any time when none is set);
- `off`: never by itself (stage only);
- `external`: only when asked (`corralctl update reboot ID`, or an Ansible play writing
  the request key);
- an operator's request reboots at once under every strategy, windows or not.
"""

from __future__ import annotations

from datetime import datetime

from corral.updated.windows import MaintenanceWindow, reboot_allowed

STRATEGIES = ("reboot", "lock", "off", "external")


def wait_reason(strategy: str, asked: bool, now: datetime, windows: list[MaintenanceWindow],
                machine_id: str) -> str | None:  # fmt: skip
    """None when the reboot may go ahead, else what it waits for (shown in the status)."""
    if asked:
        return None
    if strategy == "off":
        return "staged; strategy off: reboot by hand"
    if strategy == "external":
        return f"staged; waiting for `corralctl update reboot {machine_id}`"
    if not reboot_allowed(now, windows):
        return "waiting for a maintenance window"
    return None
