"""`export` and `import`: a mirror in a tar file, for sites with no network at all.

A bundle is a plain tar of the mirror layout: the root chain, the chosen channels'
current release documents and the payloads they name. `import` unpacks it into the
private work area and then runs `sync` from there, so it verifies exactly as a sync
over HTTP does, and changes nothing visible unless everything verifies.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from corral.mirror.fetch import DirectoryFetcher
from corral.mirror.layout import Layout, MirrorError, check_channel
from corral.mirror.progress import Progress
from corral.mirror.publish import current_release
from corral.mirror.sync import ProgressFactory, SyncResult, sync
from corral.trust import DEFAULT_SKEW


class _Counting(io.RawIOBase):
    """A file wrapper that reports bytes read to a progress bar."""

    def __init__(self, f: BinaryIO, progress: Progress) -> None:
        self.f = f
        self.progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.progress.advance(len(data))
        return data


def export_bundle(
    layout: Layout,
    bundle: Path,
    channels: Sequence[str] | None = None,
    progress: ProgressFactory = Progress,
) -> list[str]:
    """Write the bundle (via a temporary file and a rename); return the channels in it."""
    layout.require()
    names = [check_channel(c) for c in channels] if channels else layout.channels()
    files = [layout.root_file]
    files += sorted((layout.base / "root").glob("*.json"))
    payloads: list[Path] = []
    for channel in names:
        release = current_release(layout, channel)
        if release is None:
            raise MirrorError(f"channel {channel} has no release to export")
        files.append(layout.release_file(channel))
        files.append(layout.history_file(channel, release.serial))
        payloads.append(layout.pool_file(release.payload.path))
    total = sum(p.stat().st_size for p in payloads)
    bar = progress(bundle.name, total)
    fd, tmp = tempfile.mkstemp(dir=bundle.parent, prefix=f".{bundle.name}.")
    try:
        with open(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
            index = (json.dumps({"channels": names}, indent=1) + "\n").encode()
            info = tarfile.TarInfo("channels.json")
            info.size = len(index)
            tar.addfile(info, io.BytesIO(index))
            for path in dict.fromkeys([*files, *payloads]):
                if not path.is_file():
                    continue
                info = tar.gettarinfo(str(path), str(path.relative_to(layout.base)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    source = _Counting(f, bar) if path in payloads else f
                    tar.addfile(info, source)  # type: ignore[arg-type]
        Path(tmp).replace(bundle)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    bar.finish()
    return names


def _extract(bundle: Path, staging: Path, progress: ProgressFactory) -> None:
    try:
        with tarfile.open(bundle, mode="r:*") as tar:
            _extract_members(tar, bundle, staging, progress)
    except (OSError, EOFError, tarfile.TarError) as e:
        raise MirrorError(f"{bundle}: not a readable tar bundle: {e}") from None


def _extract_members(
    tar: tarfile.TarFile, bundle: Path, staging: Path, progress: ProgressFactory
) -> None:
    members = tar.getmembers()
    bar = progress(bundle.name, sum(m.size for m in members if m.isfile()))
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (
            member.isfile() or member.isdir()
        ):
            raise MirrorError(f"{bundle}: refusing member {member.name!r}")
        source = tar.extractfile(member) if member.isfile() else None
        if source is None:
            continue
        target = staging / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with source, open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
                bar.advance(len(chunk))
    bar.finish()


def import_bundle(
    layout: Layout,
    bundle: Path,
    *,
    now: datetime,
    pinned: Sequence[str] = (),
    threshold: int | None = None,
    skew: timedelta = DEFAULT_SKEW,
    progress: ProgressFactory = Progress,
) -> SyncResult:
    if not bundle.is_file():
        raise MirrorError(f"{bundle}: no such bundle")
    layout.work.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=layout.work, prefix="import-"))
    try:
        _extract(bundle, staging, progress)
        return sync(
            layout, DirectoryFetcher(staging), now=now, pinned=pinned, threshold=threshold,
            skew=skew, progress=progress,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
