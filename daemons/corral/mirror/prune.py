"""`prune --keep N`: drop old releases and the payloads no kept release names.

Per channel, the N newest distinct releases (by release id, so re-signing does not
push the previous payload out) keep their history entries; the current release is
always kept. A pool file is deleted only when no kept history entry of any channel
names it. Root versions are never pruned: clients walk the whole chain.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from corral.mirror.layout import Layout, MirrorError
from corral.trust import parse_envelope, parse_release


@dataclass
class PruneResult:
    """What a prune removed: history entries and pool files."""
    history_removed: list[str] = field(default_factory=list)
    payloads_removed: list[str] = field(default_factory=list)


def prune(layout: Layout, keep: int) -> PruneResult:
    if keep < 1:
        raise MirrorError("--keep must be at least 1")
    layout.require()
    result = PruneResult()
    referenced: set[str] = set()
    for channel in layout.channels():
        current = layout.release_envelope(channel)
        kept_ids: list[str] = []
        if current is not None:
            release = parse_release(current)
            kept_ids.append(release.release_id)
            referenced.add(release.payload.path)
        for serial in reversed(layout.history(channel)):
            path = layout.history_file(channel, serial)
            release = parse_release(parse_envelope(path.read_bytes(), str(path)), str(path))
            if release.release_id not in kept_ids and len(kept_ids) < keep:
                kept_ids.append(release.release_id)
            if release.release_id in kept_ids:
                referenced.add(release.payload.path)
            else:
                path.unlink()
                result.history_removed.append(str(path.relative_to(layout.base)))
    pool = layout.base / "pool"
    if pool.is_dir():
        for directory in sorted(pool.iterdir()):
            names = [f"pool/{directory.name}/{f.name}" for f in directory.iterdir()]
            if not any(n in referenced for n in names):
                shutil.rmtree(directory)
                result.payloads_removed.extend(names)
    return result
