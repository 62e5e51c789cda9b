"""Paths of a mirror directory and the one way files in it are written.

Every visible file is written by `write_atomic`: a temporary file in the same
directory, fsync, rename, fsync of the directory. Readers (HTTP servers included)
therefore see the old bytes or the new ones, and an acknowledged write survives a
crash. See the package docstring for the layout itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from corral.durable import fsync_dir, make_dirs
from corral.trust import Envelope, Root, parse_envelope, parse_root

WORK = ".corral-mirror"
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")


class MirrorError(Exception):
    """A mirror operation cannot be done; the message says why and what to do."""


def check_channel(name: str) -> str:
    if not _CHANNEL.match(name):
        raise MirrorError(
            f"bad channel name {name!r}: lower-case letters, digits, '.', '_' and '-'"
        )
    return name


def check_payload_name(name: str) -> str:
    if not _NAME.match(name):
        raise MirrorError(f"bad payload file name {name!r}")
    return name


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace `path` with `data`, durably; with `sync_dir=False` the caller fsyncs the
    directory (once for several files in it) before anything depends on the rename."""
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


@dataclass(frozen=True)
class Layout:
    """The paths of one mirror directory."""

    base: Path

    @property
    def root_file(self) -> Path:
        return self.base / "root.json"

    def root_version_file(self, version: int) -> Path:
        return self.base / "root" / f"{version}.json"

    @property
    def channels_file(self) -> Path:
        return self.base / "channels.json"

    def release_file(self, channel: str) -> Path:
        return self.base / "channels" / channel / "release.json"

    def history_file(self, channel: str, serial: int) -> Path:
        return self.base / "channels" / channel / f"{serial}.json"

    def pool_file(self, rel: str) -> Path:
        return self.base / rel

    @property
    def work(self) -> Path:
        return self.base / WORK

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time per mirror; a second one fails at once, it does not wait."""
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / "lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MirrorError(f"another corral-mirror is changing {self.base}") from None
            yield

    def exists(self) -> bool:
        return self.root_file.is_file()

    def require(self) -> Layout:
        if not self.exists():
            raise MirrorError(f"{self.base} is not a mirror (no root.json): run `init` first")
        return self

    def root(self) -> Root:
        """The mirror's current root, as written by this operator (not re-verified)."""
        data = self.require().root_file.read_bytes()
        return parse_root(parse_envelope(data, str(self.root_file)), str(self.root_file))

    def channels(self) -> list[str]:
        if not self.channels_file.is_file():
            return []
        try:
            names = json.loads(self.channels_file.read_bytes()).get("channels", [])
        except (ValueError, AttributeError):
            raise MirrorError(f"{self.channels_file} is not valid JSON") from None
        return sorted(check_channel(str(n)) for n in names)

    def add_channels(self, channels: Iterable[str]) -> None:
        """List the channels in channels.json (written only if it changes, or is missing)."""
        known = self.channels()
        names = set(known) | {check_channel(c) for c in channels}
        if self.channels_file.is_file() and names == set(known):
            return
        body = json.dumps({"channels": sorted(names)}, indent=1) + "\n"
        write_atomic(self.channels_file, body.encode())

    def release_envelope(self, channel: str) -> Envelope | None:
        path = self.release_file(channel)
        if not path.is_file():
            return None
        return parse_envelope(path.read_bytes(), str(path))

    def history(self, channel: str) -> list[int]:
        """Serials in the channel's history, oldest first."""
        directory = self.base / "channels" / channel
        if not directory.is_dir():
            return []
        return sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit())
