"""locksmith's reboot semaphore, as pure functions on its JSON document.

    {"semaphore": 0, "max": 1, "holders": ["machine-a"]}

`semaphore` is how many more holders may enter (max - len(holders) when consistent).
Taking it twice for the same holder is a no-op, so a daemon that restarts after its
reboot finds itself still holding. Expiry is decided by the caller (who knows which
machines still heartbeat) and applied with `drop`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


class SemaphoreError(ValueError):
    """The stored document is not a semaphore, or a change is impossible."""


@dataclass
class Semaphore:
    """locksmith's semaphore document: free places, size and holders."""
    semaphore: int = 1
    max: int = 1
    holders: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> Semaphore:
        """The document, strictly: `semaphore` and `max` integers, `holders` a list of
        strings; any other shape is a SemaphoreError (a string is never read as a list
        of one-letter holders)."""
        try:
            body = json.loads(text or "")
        except ValueError:
            raise SemaphoreError(f"not a reboot semaphore: {text!r:.200} (not JSON)") from None
        if not isinstance(body, dict):
            raise SemaphoreError(f"not a reboot semaphore: {text!r:.200} (not an object)")
        semaphore, most, holders = (body.get(k) for k in ("semaphore", "max", "holders"))
        if holders is None:
            holders = []
        wrong = [name for name, value in (("semaphore", semaphore), ("max", most))
                 if isinstance(value, bool) or not isinstance(value, int)]  # fmt: skip
        if not isinstance(holders, list) or not all(isinstance(h, str) for h in holders):
            wrong.append("holders")
        if isinstance(semaphore, int) and isinstance(most, int) and not wrong:
            return cls(semaphore, most, list(holders))
        raise SemaphoreError(f"not a reboot semaphore: {text!r:.200} ({', '.join(wrong)}:"
                             " want integer semaphore and max, a list of holder ids)")

    def dump(self) -> str:
        return json.dumps({"semaphore": self.semaphore, "max": self.max,
                           "holders": self.holders})  # fmt: skip

    def acquire(self, holder: str) -> bool:
        """Take a place for `holder`; False (unchanged) when none is free."""
        if holder in self.holders:
            return True
        if self.semaphore <= 0:
            return False
        self.semaphore -= 1
        self.holders.append(holder)
        return True

    def release(self, holder: str) -> bool:
        """Give `holder`'s place back; False when it held none."""
        if holder not in self.holders:
            return False
        self.holders.remove(holder)
        self.semaphore += 1
        return True

    def drop(self, holders: set[str]) -> list[str]:
        """Release every holder in `holders` (expired ones); returns those dropped."""
        gone = [h for h in self.holders if h in holders]
        for h in gone:
            self.release(h)
        return gone

    def set_max(self, new_max: int) -> None:
        if new_max < 0:
            raise SemaphoreError(f"max must be 0 or more, not {new_max}")
        self.semaphore += new_max - self.max
        self.max = new_max
