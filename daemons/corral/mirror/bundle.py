"""`export` and `import`: a mirror in a tar file, for sites with no network at all.

A bundle is a plain tar of the mirror layout: `channels.json`, the root chain, the
chosen channels' current release documents (and their history entries), then the
payloads they name, documents first so that `import` (`corral.mirror.bundle_import`)
verifies them before it reads a byte of payload. Bundles written before this order was
promised had it too.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from corral.mirror.layout import Layout, MirrorError, check_channel
from corral.mirror.progress import Progress
from corral.mirror.publish import current_release
from corral.mirror.sync import ProgressFactory


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
    files += sorted((layout.base / "root").glob("*.json"), key=lambda p: (len(p.name), p.name))
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
                    tar.addfile(info, source)
        Path(tmp).replace(bundle)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    bar.finish()
    return names
