"""Which paths a batch that is applied but not yet durable has touched.

A read of a path unrelated to every touched path sees exactly the durable state, so
it may be answered while the batch commits (with the durable index). Related means:
the same path, an ancestor (a created or removed directory on the way, or a listing
that changed) or a descendant (a listing or recursive read that includes it).
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.store.store import JournalEntry


def _ancestors(path: str) -> Iterable[str]:
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        yield path


class PendingPaths:
    """The paths one batch touched, and whether a read of a path could see them."""

    def __init__(self, journal: Iterable[JournalEntry]) -> None:
        self.touched: set[str] = set()
        self.around: set[str] = set()  # touched paths and all their ancestors
        for entry in journal:
            path = entry.path
            self.touched.add(path)
            # `around` holds every ancestor of what it holds: stop at the first one
            # there (a deep write's journal lists parents first, so this is linear)
            if path in self.around:
                continue
            self.around.add(path)
            for a in _ancestors(path):
                if a in self.around:
                    break
                self.around.add(a)

    def affects(self, path: str) -> bool:
        """Whether reading `path` (a clean path, recursively or not) could see the batch.
        (Most reads ask this while a batch commits: a loop, not a generator.)"""
        if path in self.around:
            return True
        touched = self.touched
        cut = path.rfind("/")
        while cut > 0:
            path = path[:cut]
            if path in touched:
                return True
            cut = path.rfind("/")
        return "/" in touched
