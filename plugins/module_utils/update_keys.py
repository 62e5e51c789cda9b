# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""corral-updated's keys in the store, as the update and reboot_lock modules use them.

The same names and values as corral.updated.records (a test fails when they differ);
see there for what each key holds. `updated_reboot_lock.py` imports its keys from here.
"""

from __future__ import annotations

ROOT = "/_corral/update"
MACHINES = f"{ROOT}/machines"
ALIVE = f"{ROOT}/alive"
LOCK = f"{ROOT}/lock"
LOCK_GROUPS = f"{ROOT}/lock-groups"
REBOOT_LOCK = f"{ROOT}/reboot-lock"
LOCK_HOLDERS = f"{REBOOT_LOCK}/holders"
LOCK_MAX = f"{REBOOT_LOCK}/max"
BAD = f"{ROOT}/bad"
REPORTS = f"{ROOT}/reports"
CANARIES = f"{ROOT}/canaries"
FAILED = "failed"
HOLDS = f"{ROOT}/holds"
REQUESTS = f"{ROOT}/requests"
CONFIG = f"{ROOT}/config"
HISTORY = f"{ROOT}/history"
HOLD_ALL = "all"
NEED_REBOOT = "UPDATE_STATUS_UPDATED_NEED_REBOOT"
