"""`sync`: make this mirror carry what another mirror (URL or directory) carries.

Order, so that nothing unverified is ever visible and readers never see half a sync:
1. establish the root (this mirror's own, or the upstream's accepted by pinned keys),
   walk the upstream's newer root versions, each signed by its predecessor, and refuse
   the newest if it has expired;
2. verify every channel's release document (signatures, product, expiry, rollback
   against what this mirror has now);
3. download the payloads into the private work area (resumable) and verify them;
4. only then: root files, pool files, history entries, and each channel's
   `release.json` by one rename.
A failure at any step raises before step 4, leaving the served mirror as it was. The
previous release stays in the pool and the history (for rollback) until `prune`.

Its time goes to sha256 and the disk (overlapped, `receive`) and, before that, to
start-up and gpg; figures and what was tried: docs/performance.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from corral.durable import fsync_dir, make_dirs
from corral.mirror.download import download_payload
from corral.mirror.fetch import Fetcher, NotFound
from corral.mirror.keyring import Keyring
from corral.mirror.layout import (
    Layout,
    MirrorError,
    check_channel,
    write_atomic,
)
from corral.mirror.progress import Progress
from corral.mirror.roots import DOCUMENT_LIMIT, bootstrap_root, walk_roots
from corral.trust import (
    DEFAULT_SKEW,
    MalformedDocument,
    Release,
    Seen,
    check_root_fresh,
    parse_release,
    verify_release,
)

ProgressFactory = Callable[[str, int], Progress]


@dataclass
class SyncResult:
    """What a sync did: the root version reached and the channels it changed."""
    root_version: int
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _upstream_channels(fetcher: Fetcher) -> list[str]:
    data = fetcher.document("channels.json", DOCUMENT_LIMIT)
    try:
        names = json.loads(data)["channels"]
    except (ValueError, KeyError, TypeError):
        raise MalformedDocument("channels.json: not {\"channels\": [...]}") from None
    if not isinstance(names, list):
        raise MalformedDocument("channels.json: 'channels' is not a list")
    try:
        return [check_channel(str(n)) for n in names]
    except MirrorError as e:
        raise MalformedDocument(f"channels.json: {e}") from None


def _check_pool_path(release: Release) -> None:
    name = release.payload.path.rsplit("/", 1)[-1]
    if release.payload.path != f"pool/{release.payload.sha256}/{name}":
        raise MalformedDocument(
            f"channel {release.channel}: payload path {release.payload.path!r} is not"
            " pool/<sha256>/<name>"
        )


@dataclass
class SyncPlan:
    """What a sync will change, every document in it verified; payloads not yet fetched."""

    result: SyncResult
    roots_to_write: list[tuple[int, bytes]]
    releases: list[tuple[Release, bytes]]  # channels whose release changes, with its bytes
    verified: list[Release]  # every channel's verified release, changed or not


def plan_sync(
    layout: Layout,
    fetcher: Fetcher,
    *,
    now: datetime,
    pinned: Sequence[str] = (),
    threshold: int | None = None,
    channels: Sequence[str] | None = None,
    skew: timedelta = DEFAULT_SKEW,
) -> SyncPlan:
    """Steps 1 and 2: the root chain and every channel's release, verified."""
    roots_to_write: list[tuple[int, bytes]] = []
    with Keyring() as keyring:
        if layout.exists():
            root = layout.root()
            for armor in root.keys.values():
                keyring.add(armor)
        else:
            if not pinned or threshold is None:
                raise MirrorError(
                    f"{layout.base} is not a mirror yet: pin the upstream's keys with"
                    " --key FINGERPRINT (repeated) and --threshold N"
                )
            if not 1 <= threshold <= len(set(pinned)):
                raise MirrorError(
                    f"--threshold must be between 1 and {len(set(pinned))} (the pinned keys)"
                )
            root, data = bootstrap_root(fetcher, keyring, list(pinned), threshold)
            # older versions, verbatim, for clients that walk the chain from them
            for version in range(1, root.version):
                try:
                    old = fetcher.document(f"root/{version}.json", DOCUMENT_LIMIT)
                except NotFound:
                    continue
                roots_to_write.append((version, old))
            roots_to_write.append((root.version, data))
        for newer, data in walk_roots(fetcher, keyring, root):
            root = newer
            roots_to_write.append((newer.version, data))
        check_root_fresh(root, now, skew)  # never pass on a frozen root, even with no channel

        plan = SyncPlan(SyncResult(root.version), roots_to_write, [], [])
        names = [check_channel(c) for c in channels] if channels else _upstream_channels(fetcher)
        for channel in names:
            local = layout.release_envelope(channel)
            seen = None
            if local is not None:
                mine = parse_release(local, f"local channel {channel}")
                seen = Seen(mine.serial, local.digest)
            data = fetcher.document(f"channels/{channel}/release.json", DOCUMENT_LIMIT)
            release = verify_release(
                data, verifier=keyring, root=root, product=root.product, channel=channel,
                now=now, seen=seen, skew=skew,
            )
            _check_pool_path(release)
            plan.verified.append(release)
            if seen is not None and seen.digest == release.digest:
                plan.result.unchanged.append(channel)
                continue
            plan.releases.append((release, data))
    return plan


def missing_payloads(layout: Layout, plan: SyncPlan) -> dict[Path, Release]:
    """Pool files the plan needs that this mirror lacks (one per payload)."""
    missing: dict[Path, Release] = {}
    for release, _ in plan.releases:
        target = layout.pool_file(release.payload.path)
        if target.is_file() and target.stat().st_size == release.payload.size:
            continue  # content-addressed and only ever written verified
        missing.setdefault(target, release)
    return missing


def partial_file(layout: Layout, release: Release) -> Path:
    return layout.work / "partial" / release.payload.sha256


def commit_sync(layout: Layout, plan: SyncPlan, staged: dict[Path, Path]) -> SyncResult:
    """Step 4: make everything visible; `staged` maps pool files to verified partials."""
    # Each directory is fsynced once, after its last rename and before any file that
    # points into it is switched: roots, then pool, then per channel the history entry
    # and release.json (one fsync for both), then channels.json, written once.
    for version, data in plan.roots_to_write:
        write_atomic(layout.root_version_file(version), data, sync_dir=False)
    if plan.roots_to_write:
        fsync_dir(layout.root_version_file(1).parent)
        write_atomic(layout.root_file, plan.roots_to_write[-1][1])
    for target, partial in staged.items():
        make_dirs(target.parent)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
        fsync_dir(target.parent)
    for release, data in plan.releases:
        write_atomic(layout.history_file(release.channel, release.serial), data, sync_dir=False)
        write_atomic(layout.release_file(release.channel), data)
        plan.result.updated.append(release.channel)
    layout.add_channels(plan.result.updated)
    return plan.result


def sync(
    layout: Layout,
    fetcher: Fetcher,
    *,
    now: datetime,
    pinned: Sequence[str] = (),
    threshold: int | None = None,
    channels: Sequence[str] | None = None,
    skew: timedelta = DEFAULT_SKEW,
    progress: ProgressFactory = Progress,
) -> SyncResult:
    plan = plan_sync(layout, fetcher, now=now, pinned=pinned, threshold=threshold,
                     channels=channels, skew=skew)
    staged: dict[Path, Path] = {}  # target -> verified partial; channels may share one
    for target, release in missing_payloads(layout, plan).items():
        partial = partial_file(layout, release)
        bar = progress(release.payload.path.rsplit("/", 1)[-1], release.payload.size)
        download_payload(fetcher, release.payload, partial, bar)
        bar.finish()
        staged[target] = partial
    return commit_sync(layout, plan, staged)
