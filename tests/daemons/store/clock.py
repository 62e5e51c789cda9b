"""A hand-driven clock for the pure store's tests."""

from __future__ import annotations

NS = 1_000_000_000
T0 = 1_800_000_000 * NS  # 2027-01-15T08:00:00Z


class FakeClock:
    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * NS)
