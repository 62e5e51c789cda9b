# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Whether a machine asked to reboot into its staged update is done (pure, no I/O).

corral-updated appends to `history/<id>/` (entries named by their store index, JSON
with `event`, `version`, `detail`) as it goes: after the boot its health gate records
`good` for the new version, then the status says IDLE on it; or it records `rollback`
and boots the old slot back. Only entries written after the request count: an older
`good` for the same version (a version installed once before) says nothing.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused

IDLE = "UPDATE_STATUS_IDLE"


def entry_names(history: Any) -> set[str]:
    """The names of the entries in a `history/<id>` tree (empty when none)."""
    return set(history) if isinstance(history, dict) else set()


def rebooted(machine: str, version: str, status: Any, history: Any, before: set[str]) -> bool:
    """True once the machine runs `version` after its health gate passed; False while
    it is not there yet; Refused when it rolled back."""
    good = False
    fresh = entry_names(history) - before
    for name in sorted(fresh, key=lambda n: (len(n), n)):  # store indexes, in order
        try:
            entry = json.loads(history[name])
        except (TypeError, ValueError):
            continue
        if not isinstance(entry, dict) or entry.get("version") != version:
            continue
        if entry.get("event") == "rollback":
            raise Refused(
                f"machine {machine} did not keep {version}: its health gate failed "
                f"({str(entry.get('detail', ''))[:200]}) and it booted the old slot back"
            )
        good = good or entry.get("event") == "good"
    status = status if isinstance(status, dict) else {}
    return good and status.get("status") == IDLE and status.get("version") == version
