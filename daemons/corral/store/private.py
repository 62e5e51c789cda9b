"""Keys that hold secrets: stored like any key, served by no read path.

The auth record (`AUTH_KEY`: every user's password hash and every role) lives in the
keys tree so that it is as durable as any key on both backends. It is withheld
structurally rather than filtered per route:
- its events never enter the watch history as themselves (`EventHistory.add` keeps a
  `Withheld` placeholder, an index with nothing in it) and so are never delivered,
  live or replayed, on either backend;
- the keys API refuses every request on it (`Api.keys`), even root's;
- as a hidden key (`_` prefix) it is left out of every directory listing.
"""

from __future__ import annotations

AUTH_KEY = "/_corral_auth"


def is_private(path: str) -> bool:
    """Whether `path` (clean) is the auth record or below it."""
    return path.startswith(AUTH_KEY) and (len(path) == len(AUTH_KEY) or path[len(AUTH_KEY)] == "/")
