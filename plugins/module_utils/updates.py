# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The operator's levers on corral-updated, as the update modules see them (pure, no I/O).

corral-updated reads, for its machine id: `holds/<id>` or `holds/all` (present: keep the
installed version), `requests/<id>/check` and `requests/<id>/reboot` (present: do it
now; the daemon deletes the key when it acts), and `config/all` then `config/<id>`
(channel, strategy and windows over its flags; see `updated_settings`). It writes
`machines/<id>`, its status (update_engine's status names, the effective settings and
its flags as `defaults`), which the modules only read. `UpdateLevers` is one machine's
levers; planning never writes, and asks for a reboot only when the machine reports an
update staged, since the daemon keeps a request for nothing pending.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused
from ansible_collections.corral.cloud.plugins.module_utils.update_keys import (
    CONFIG,
    HOLD_ALL,
    HOLDS,
    NEED_REBOOT,
    REQUESTS,
)
from ansible_collections.corral.cloud.plugins.module_utils.updated_settings import Settings


@dataclass(frozen=True)
class UpdateLevers:
    """One machine's (or, for `all`, the cluster's) hold and pending requests."""

    machine: str
    held: bool = False
    check: bool = False
    reboot: bool = False
    config: Settings = field(default_factory=Settings)  # the record at config/<machine>
    config_error: str = ""  # the record there does not parse (it reads as empty)
    # what the layers below give (the daemon's flags, then config/all): not a lever
    below: Settings = field(default_factory=Settings, compare=False)

    def keys(self) -> dict[str, str]:
        """The store keys of each lever."""
        return {
            "held": f"{HOLDS}/{self.machine}",
            "check": f"{REQUESTS}/{self.machine}/check",
            "reboot": f"{REQUESTS}/{self.machine}/reboot",
            "config": f"{CONFIG}/{self.machine}",
        }

    def effective(self) -> dict[str, Any]:
        """Channel, strategy and windows the machine uses with these levers (None: not
        known, as when the daemon has not published its flags yet)."""
        merged = self.config.over(self.below)
        return {"channel": merged.channel, "strategy": merged.strategy,
                "windows": None if merged.windows is None else list(merged.windows)}  # fmt: skip

    def render(self) -> str:
        config: Any = self.config.as_dict()
        if self.config_error:
            config = f"unreadable: {self.config_error}"
        return json.dumps(
            {"held": self.held, "check requested": self.check, "reboot requested": self.reboot,
             "config": config, "effective": self.effective()},
            indent=2, sort_keys=True,
        ) + "\n"  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "held": self.held,
                "check_requested": self.check, "reboot_requested": self.reboot,
                "config": self.config.as_dict(), "config_error": self.config_error,
                "effective": self.effective()}  # fmt: skip


@dataclass(frozen=True)
class UpdateWanted:
    machine: str
    held: bool | None = None  # None: leave as it is
    check: bool = False
    reboot: bool = False
    config: Settings = field(default_factory=Settings)  # fields to set; unset: leave


def plan_levers(
    current: UpdateLevers, wanted: UpdateWanted, status: dict[str, Any] | None
) -> UpdateLevers:
    """The levers after the task; `status` is the machine's status record, if any.
    Raises Refused for a request the daemon would not act on."""
    after = current
    if wanted.held is not None:
        after = replace(after, held=wanted.held)
    if wanted.config.as_dict():  # a record that does not parse is replaced, not merged
        base = Settings() if current.config_error else current.config
        after = replace(after, config=wanted.config.over(base), config_error="")
    if wanted.check or wanted.reboot:
        if wanted.machine == HOLD_ALL:
            raise Refused("check and reboot are asked of one machine: give its id, not 'all'")
        if status is None:
            raise Refused(f"machine {wanted.machine} has no corral-updated status in the store")
    if wanted.check:
        after = replace(after, check=True)
    if wanted.reboot and not current.reboot:
        state = str((status or {}).get("status", ""))
        if state != NEED_REBOOT:
            raise Refused(
                f"machine {wanted.machine} has no update staged to reboot into (status "
                f"{state or 'unknown'}); ask for a check first"
            )
        if after.held:
            raise Refused(f"machine {wanted.machine} is held: release the hold to reboot it")
        after = replace(after, reboot=True)
    return after
