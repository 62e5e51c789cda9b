"""Operator actions that sign: `init`, `publish`, `promote` and `resign`.

Each writes the pool file first, then the channel's history entry, then switches
`release.json` with one rename. Serials come from the channel's history, so they only
grow, even after `prune`, which never removes the newest entries.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corral.durable import fsync_dir, make_dirs
from corral.mirror.gpg import GpgError, Signer
from corral.mirror.keys import ROOT_LIFETIME
from corral.mirror.layout import (
    Layout,
    MirrorError,
    check_channel,
    check_payload_name,
    write_atomic,
)
from corral.mirror.signing import sign_for_root
from corral.trust import (
    ROOT_TYPE,
    Envelope,
    MalformedDocument,
    Payload,
    Release,
    TrustError,
    Version,
    check_root_fresh,
    encode_document,
    format_time,
    normalize_fingerprint,
    parse_release,
    parse_root,
    release_document,
)


def init(
    layout: Layout,
    signer: Signer,
    keys: Sequence[str],
    threshold: int,
    product: str,
    *,
    expires: timedelta = ROOT_LIFETIME,
    now: datetime | None = None,
) -> None:
    now = now or datetime.now(UTC)
    if layout.exists():
        raise MirrorError(f"{layout.base} is already a mirror (root.json exists)")
    fingerprints = list(dict.fromkeys(normalize_fingerprint(k) for k in keys))
    if not fingerprints:
        raise MirrorError("init needs at least one --key FINGERPRINT")
    if not 1 <= threshold <= len(fingerprints):
        raise MirrorError(f"--threshold must be between 1 and {len(fingerprints)}")
    try:
        public = {fpr: signer.public_key(fpr) for fpr in fingerprints}
    except GpgError as e:
        raise MirrorError(str(e)) from None
    document = {
        "type": ROOT_TYPE,
        "product": product,
        "version": 1,
        "threshold": threshold,
        "expires": format_time(now + expires),
        "keys": public,
    }
    # the new root must accept its own signatures
    root = parse_root(Envelope(encode_document(document), ()), "new root")
    envelope = sign_for_root(signer, document, root, fingerprints)
    layout.base.mkdir(parents=True, exist_ok=True)
    write_atomic(layout.root_version_file(1), envelope.to_bytes())
    write_atomic(layout.root_file, envelope.to_bytes())
    write_atomic(layout.channels_file, b'{"channels": []}\n')


def current_release(layout: Layout, channel: str) -> Release | None:
    envelope = layout.release_envelope(channel)
    return parse_release(envelope, f"channel {channel}") if envelope else None


def next_serial(layout: Layout, channel: str) -> int:
    current = current_release(layout, channel)
    serials = [*layout.history(channel), current.serial if current else 0]
    return max(serials) + 1


def add_to_pool(layout: Layout, source: Path, name: str | None = None) -> Payload:
    """Copy a file into pool/<sha256>/<name>, hashing on the way; reuse if present."""
    name = check_payload_name(name or source.name)
    if not source.is_file():
        raise MirrorError(f"payload {source} is not a file")
    layout.work.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=layout.work, prefix="publish-")
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        rel = f"pool/{sha}/{name}"
        target = layout.pool_file(rel)
        if not target.is_file():
            make_dirs(target.parent)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            fsync_dir(target.parent)  # in place before a release may point at it
        return Payload(rel, target.stat().st_size, sha)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_not_downgrade(
    layout: Layout, channel: str, version: str, allow_downgrade: bool
) -> None:
    current = current_release(layout, channel)
    if current is not None and Version(version) < current.version and not allow_downgrade:
        raise MirrorError(
            f"version {version} is lower than {current.version} on channel {channel}:"
            " pass --allow-downgrade to publish it anyway"
        )


def write_release(
    layout: Layout,
    signer: Signer,
    keys: Sequence[str],
    *,
    channel: str,
    version: str,
    payload: Payload,
    expires: timedelta,
    now: datetime,
    min_version: str | None,
    allow_downgrade: bool,
) -> Release:
    root = layout.root()
    try:
        check_root_fresh(root, now, timedelta(0))
    except TrustError as e:
        # clients would refuse whatever is signed under it: renew first
        hint = f"corral-mirror keys {layout.base} renew --key FPR"
        raise MirrorError(f"{e}; renew it first: {hint}") from None
    serial = next_serial(layout, channel)
    try:
        document = release_document(
            product=root.product,
            channel=channel,
            version=version,
            serial=serial,
            issued=now,
            expires=now + expires,
            payload=payload,
            root_version=root.version,
            min_version=min_version,
            allow_downgrade=allow_downgrade,
        )
    except MalformedDocument as e:
        raise MirrorError(str(e)) from None
    envelope = sign_for_root(signer, document, root, keys)
    data = envelope.to_bytes()
    write_atomic(layout.history_file(channel, serial), data)
    write_atomic(layout.release_file(channel), data)
    layout.add_channels([channel])
    return parse_release(envelope)


def publish(
    layout: Layout,
    signer: Signer,
    keys: Sequence[str],
    payload_file: Path,
    *,
    channel: str,
    version: str,
    expires: timedelta,
    now: datetime,
    min_version: str | None = None,
    allow_downgrade: bool = False,
) -> Release:
    layout.require()
    check_channel(channel)
    try:
        Version(version)
    except ValueError as e:
        raise MirrorError(str(e)) from None
    _check_not_downgrade(layout, channel, version, allow_downgrade)
    payload = add_to_pool(layout, payload_file)
    return write_release(
        layout, signer, keys, channel=channel, version=version, payload=payload,
        expires=expires, now=now, min_version=min_version, allow_downgrade=allow_downgrade,
    )


def promote(
    layout: Layout,
    signer: Signer,
    keys: Sequence[str],
    *,
    source: str,
    target: str,
    expires: timedelta,
    now: datetime,
    allow_downgrade: bool = False,
) -> Release:
    layout.require()
    release = current_release(layout, check_channel(source))
    if release is None:
        raise MirrorError(f"channel {source} has no release to promote")
    check_channel(target)
    _check_not_downgrade(layout, target, release.version.text, allow_downgrade)
    return write_release(
        layout, signer, keys, channel=target, version=release.version.text,
        payload=release.payload, expires=expires, now=now,
        min_version=release.min_version.text if release.min_version else None,
        allow_downgrade=allow_downgrade,
    )


def resign(
    layout: Layout,
    signer: Signer,
    keys: Sequence[str],
    *,
    channel: str,
    expires: timedelta,
    now: datetime,
) -> Release:
    """Renew a channel's expiry (and signatures) without changing what it offers."""
    layout.require()
    release = current_release(layout, check_channel(channel))
    if release is None:
        raise MirrorError(f"channel {channel} has no release to re-sign")
    return write_release(
        layout, signer, keys, channel=channel, version=release.version.text,
        payload=release.payload, expires=expires, now=now,
        min_version=release.min_version.text if release.min_version else None,
        allow_downgrade=release.allow_downgrade,
    )
