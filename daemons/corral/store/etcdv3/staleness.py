"""How stale a gateway's replica may be, and how stale it is (pure: the caller gives
the time, from a monotonic clock).

A replica is known fresh as of time T when etcd, asked at T, named a newest v2 write
the feed has since applied: every write acknowledged before T is in it. A gateway cut
off from etcd learns nothing new, so its age (now - T) grows; past `limit`, it must
not serve plain reads (nor grant access from permissions read back then), as an etcd
v2 member that lost its cluster stops serving. Checking costs one subtraction.
"""

from __future__ import annotations

from dataclasses import dataclass

# Default of --etcd-max-staleness: how long a gateway that hears nothing from etcd
# serves what it has (a plain GET's data, and the permissions it checks); a few
# heartbeats, so one slow answer from etcd refuses nothing.
MAX_STALENESS = 5.0


@dataclass
class Freshness:
    """Since when the replica is known to hold etcd's newest write, and the limit."""

    limit: float  # seconds
    fresh_at: float = 0.0  # monotonic time as of which the replica held every write

    def confirm(self, asked_at: float) -> None:
        """etcd, asked at `asked_at`, named a newest write the replica now holds."""
        self.fresh_at = max(self.fresh_at, asked_at)

    def age(self, now: float) -> float:
        return max(0.0, now - self.fresh_at)

    def stale(self, now: float) -> bool:
        return now - self.fresh_at > self.limit
