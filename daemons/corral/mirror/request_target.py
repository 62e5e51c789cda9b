"""Which file of the mirror a request's target names, decided before the disk is touched.

Pure: the raw request target (as received, percent-escapes and all) goes in, a path
relative to the mirror comes out, or `BadTarget` with the status to answer. Only the
origin form (`/path?query`) is served: the mirror is not a proxy. The path is
percent-decoded once, must be UTF-8, and is refused if it holds a control character
(NUL included), a `.` or `..` segment, or an empty one; a hidden segment (the
`.corral-mirror` work area, the temporary files of atomic writes) or one longer than a
file name can be is not found.
"""

from __future__ import annotations

import urllib.parse

MAX_TARGET = 4096  # bytes of request target: mirror paths are under 300; 414 beyond
NAME_MAX = 255  # bytes of one segment: no file name on Linux is longer


class BadTarget(Exception):
    """A request target that names no servable file, with the status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def target_path(target: str) -> str:
    """The mirror-relative path a request target names (may not exist)."""
    if len(target.encode("utf-8", "surrogateescape")) > MAX_TARGET:
        raise BadTarget(414, f"request target longer than {MAX_TARGET} bytes")
    if not target.startswith("/"):
        raise BadTarget(400, "only origin-form request targets (/path) are served")
    path = target.split("?", 1)[0].split("#", 1)[0]
    try:
        text = urllib.parse.unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadTarget(400, "path is not UTF-8 once percent-decoded") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise BadTarget(400, "control character in path")
    segments = text[1:].split("/")
    if any(s in ("", ".", "..") for s in segments):
        if segments == [""]:
            raise BadTarget(404, "no file at the mirror's top")
        raise BadTarget(400, "empty, '.' or '..' path segment")
    if any(s.startswith(".") or len(s.encode()) > NAME_MAX for s in segments):
        raise BadTarget(404, "not found")
    return "/".join(segments)
