"""Maintenance windows: when a machine may reboot (pure; the clock is passed in).

A window is written `DAYS START LENGTH [ZONE]`, e.g. `Mon-Fri 02:00 2h Europe/Berlin`,
`Sat,Sun 22:30 90m`, `daily 04:00 1h UTC`. It opens at START local time on each of
DAYS and stays open LENGTH, a duration (corral.duration: 2h, 90min, 1h30m), which
may run past midnight, into the next day. The zone
defaults to UTC; local times follow its daylight-saving rules (zoneinfo). No window at
all means any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from corral.duration import DurationError, parse_duration

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowError(ValueError):
    """A window that cannot be parsed; the message says which part and why."""


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly period in a time zone when a machine may reboot."""
    days: frozenset[int]  # 0 = Monday
    start: time
    length: timedelta
    zone: ZoneInfo
    text: str = field(default="", compare=False)  # as written, blanks normalised

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        parts = text.split()
        if len(parts) not in (3, 4):
            raise WindowError(f"window {text!r}: expected DAYS START LENGTH [ZONE],"
                              " e.g. 'Mon-Fri 02:00 2h Europe/Berlin'")  # fmt: skip
        days = _days(parts[0], text)
        try:
            start = time.fromisoformat(parts[1])
        except ValueError:
            raise WindowError(f"window {text!r}: start {parts[1]!r} is not HH:MM") from None
        try:
            length = timedelta(seconds=parse_duration(parts[2]))
        except DurationError as exc:
            raise WindowError(f"window {text!r}: length: {exc}") from None
        if not timedelta(0) < length <= timedelta(days=7):
            raise WindowError(f"window {text!r}: length must be above 0 and at most 7 days")
        try:
            zone = ZoneInfo(parts[3] if len(parts) == 4 else "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise WindowError(f"window {text!r}: unknown time zone {parts[3]!r}") from None
        return cls(days, start, length, zone, " ".join(parts))

    def contains(self, now: datetime) -> bool:
        """Whether `now` (timezone-aware) falls inside one opening of this window."""
        local = now.astimezone(self.zone)
        for back in range(self.length.days + 2):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
            if opens <= now.astimezone(UTC) < opens + self.length:
                return True
        return False


def _days(spec: str, text: str) -> frozenset[int]:
    if spec.lower() in ("daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.lower().split(","):
        ends = part.split("-")
        try:
            idx = [DAY_NAMES.index(e[:3]) for e in ends if len(e) >= 3]
        except ValueError:
            idx = []
        if len(idx) != len(ends) or len(idx) not in (1, 2):
            raise WindowError(f"window {text!r}: {part!r} is not a day or range like Mon-Fri")
        first, last = idx[0], idx[-1]
        day = first
        while True:  # ranges may wrap: Sat-Mon
            days.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(days)


def reboot_allowed(now: datetime, windows: list[MaintenanceWindow]) -> bool:
    return not windows or any(w.contains(now) for w in windows)
