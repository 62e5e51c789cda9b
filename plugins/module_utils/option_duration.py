# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""Options that are durations (timeouts, TTLs): a number is seconds, as these options
always took; text is a duration in the one grammar of every flag and unit file
(module_utils/duration.py, a copy of corral.duration): 90s, 5min, 1h30m, 1d, 2w."""

from __future__ import annotations

from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.duration import (
    HELP,
    DurationError,
    parse_duration,
)


def option_seconds(value: Any, name: str) -> float:
    """Seconds in option `name`: a number as it is, text parsed as a duration. Raises
    DurationError naming the option for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise DurationError(f"{name}: {exc}") from None
    raise DurationError(f"{name}: {value!r} is not a number of seconds or a {HELP}")
