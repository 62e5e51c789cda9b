"""A directory's format version: read, check, upgrade, record.

Each directory a Corral program keeps between runs (corral-store's data directory,
a mirror's private area, corral-fleet's and corral-updated's state directories) has a
marker file holding one integer, its format. The program reads it before touching
anything else:

- a format above what this code knows is refused with a `FormatError` naming both,
  and nothing in the directory is changed: code that guessed at a newer layout could
  destroy it, and the operator's fix (install the newer program again) is cheap;
- an older format is upgraded in place, one step at a time, at start-up;
- no marker is format 1: what every release before markers wrote (and what an empty
  directory is). It gets its marker on the first start, which is the "upgrade" from
  the unversioned format.

Crash safety: the marker is replaced by rename (temporary file, fsync, rename, fsync
of the directory), so it names the old format or the new one, never a torn mix. It is
written after each step, and only after the step is complete, so a crash during a step
leaves the old format recorded and the step runs again on the next start: every
migration must therefore be safe to re-run on its own partial result. A temporary
file left by a crash is ignored when reading and replaced by the next write.

A downgrade across formats is not supported: the older program refuses the newer
format (releases before markers cannot tell; they read the directory as they find it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from corral import __version__
from corral.durable import fsync_dir, make_dirs

if TYPE_CHECKING:
    import logging



def _log() -> "logging.Logger":  # noqa: UP037
    # imported when there is something to say: corral-mirror's start-up is timed
    import logging

    return logging.getLogger(__name__)

UNVERSIONED = 1  # the format of a directory without a marker: releases up to 0.1.0
MARKER_BYTES = 64  # a marker is one short integer; more is not a marker this code wrote


class FormatError(Exception):
    """The directory's format cannot be used by this program; the message says what
    the operator should do."""


@dataclass(frozen=True)
class Migration:
    """One step: rewrites a directory of format N into format N+1. It must succeed on
    its own partial result (a crash during it makes the next start run it again)."""

    describe: str
    apply: Callable[[Path], None]


@dataclass(frozen=True)
class Format:
    """One kind of directory: how messages name it, where its marker lives, and the
    ordered steps from format 1 up. `migrations[i]` turns format i+1 into i+2, so the
    current format is one more than the number of steps."""

    program: str  # "corral-store"
    what: str  # "data directory"
    marker: PurePath  # relative to the directory
    migrations: tuple[Migration, ...] = ()

    @property
    def current(self) -> int:
        return UNVERSIONED + len(self.migrations)


@dataclass(frozen=True)
class Opened:
    """What `open_directory` found and did."""

    found: int  # the format before (UNVERSIONED when there was no marker)
    recorded: bool  # whether there was a marker
    current: int


def parse(text: bytes, where: str) -> int:
    """The format a marker's bytes name (pure)."""
    body = text.strip()
    if not body.isdigit() or int(body) < 1:  # bytes: ASCII digits only
        raise FormatError(f"{where} is not a format marker (expected a number, found {text!r})")
    return int(body)


def steps(fmt: Format, found: int, directory: Path) -> tuple[Migration, ...]:
    """The migrations from `found` to the current format, or the refusal (pure)."""
    if found > fmt.current:
        raise FormatError(
            f"{fmt.what} {directory} has format {found}; this {fmt.program} "
            f"(version {__version__}) reads formats up to {fmt.current}: "
            f"upgrade {fmt.program}, or restore a backup taken before the newer one ran"
        )
    return fmt.migrations[found - UNVERSIONED :]


def read(directory: Path, fmt: Format) -> int | None:
    """The recorded format, or None when there is no marker."""
    path = directory / fmt.marker
    try:
        with open(path, "rb") as f:
            text = f.read(MARKER_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    if len(text) > MARKER_BYTES:
        raise FormatError(f"{path} is not a format marker (over {MARKER_BYTES} bytes)")
    return parse(text, str(path))


def refuse_newer(directory: Path, fmt: Format) -> int:
    """The directory's format, after refusing a newer one; writes nothing (a program
    calls it before it takes a lock file or creates anything)."""
    recorded = read(directory, fmt)
    found = UNVERSIONED if recorded is None else recorded
    steps(fmt, found, directory)
    return found


def check(directory: Path, fmt: Format) -> Opened:
    """Refuse a future format; for readers that must not write (a read-only mirror
    being served). An older format with steps to run is refused too: reading it
    as the current one would be wrong."""
    recorded = read(directory, fmt)
    found = UNVERSIONED if recorded is None else recorded
    if steps(fmt, found, directory):
        raise FormatError(
            f"{fmt.what} {directory} has format {found}; this {fmt.program} reads format "
            f"{fmt.current}: run a command that writes to it once, which upgrades it"
        )
    return Opened(found, recorded is not None, fmt.current)


def open_directory(directory: Path, fmt: Format) -> Opened:
    """Bring `directory` to the current format, or refuse it unchanged. Creates the
    directory if missing (as the programs did before markers)."""
    recorded = read(directory, fmt) if directory.is_dir() else None
    new = recorded is None and _empty(directory, fmt)
    found = UNVERSIONED if recorded is None else recorded
    pending = steps(fmt, found, directory)
    if recorded == fmt.current:
        return Opened(found, True, fmt.current)
    if new:  # nothing to convert: it starts in the current format
        pending, found = (), fmt.current
    version = found
    try:
        make_dirs(directory / fmt.marker.parent)
        for step in pending:
            _log().warning("%s %s: upgrading from format %d to %d: %s",
                        fmt.what, directory, version, version + 1, step.describe)  # fmt: skip
            step.apply(directory)
            version += 1
            record(directory, fmt, version)
        if not pending:  # new, or unversioned and current: the marker is all there is to add
            record(directory, fmt, version)
    except OSError as exc:
        raise FormatError(f"cannot bring {fmt.what} {directory} to format {fmt.current}"
                          f" (it is at format {version}): {exc}") from None  # fmt: skip
    if new:  # nothing to say: a failing start's message stays the only line
        _log().debug("%s %s: new, format %d", fmt.what, directory, version)
    elif pending:
        _log().warning("%s %s: upgraded from format %d to %d", fmt.what, directory, found, version)
    else:
        _log().info("%s %s: format %d recorded (written by a release before format markers)",
                 fmt.what, directory, version)  # fmt: skip
    return Opened(found, recorded is not None, version)


def _empty(directory: Path, fmt: Format) -> bool:
    """Whether `directory` is missing or holds nothing but a temporary marker."""
    leftover = directory / fmt.marker.with_name(fmt.marker.name + ".tmp")
    try:
        return all(p == leftover for p in directory.iterdir())
    except FileNotFoundError:
        return True
    except OSError:
        return False  # the writes that follow say what is wrong


def record(directory: Path, fmt: Format, version: int) -> None:
    """Replace the marker durably: temporary file, fsync, rename, fsync directory."""
    path = directory / fmt.marker
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"%d\n" % version)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
