"""`keys add|remove|threshold|renew|list`: changing who may sign, with the consent of who
could before.

A change writes root version N+1. It is written only if `update_root` (the same check
clients run) accepts it: signed by the threshold of version N's keys and by the new
threshold of the new keys. Every new version carries a new expiry (`ROOT_LIFETIME`
unless given): `renew` changes nothing else, and is how an operator keeps clients from
refusing the root as frozen. Releases signed under the old root stay valid only as long
as their signers remain trusted, so `remove` reports the channels to `resign`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from corral.mirror.gpg import GpgError, Signer
from corral.mirror.keyring import Keyring
from corral.mirror.layout import Layout, MirrorError, write_atomic
from corral.mirror.signing import sign_envelope
from corral.trust import (
    ROOT_TYPE,
    Root,
    TrustError,
    encode_document,
    format_time,
    normalize_fingerprint,
    trusted_signers,
    update_root,
)

ROOT_LIFETIME = timedelta(days=365)  # as TUF's root: long, since renewing needs the keys


@dataclass(frozen=True)
class KeyChange:
    """A new root version, and the channels whose releases it leaves short of signatures."""
    root: Root
    stale_channels: list[str]  # channels whose release no longer meets the threshold


def change_keys(
    layout: Layout,
    signer: Signer,
    signing_keys: Sequence[str],
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    threshold: int | None = None,
    expires: timedelta = ROOT_LIFETIME,
    now: datetime | None = None,
) -> KeyChange:
    """Write root version N+1; with nothing to add, remove or change it renews the expiry."""
    now = now or datetime.now(UTC)
    old = layout.root()
    keys = dict(old.keys)
    for fpr in (normalize_fingerprint(f) for f in remove):
        if fpr not in keys:
            raise MirrorError(f"key {fpr} is not trusted by this mirror")
        del keys[fpr]
    for fpr in (normalize_fingerprint(f) for f in add):
        if fpr in keys:
            raise MirrorError(f"key {fpr} is already trusted")
        try:
            keys[fpr] = signer.public_key(fpr)
        except GpgError as e:
            raise MirrorError(str(e)) from None
    new_threshold = old.threshold if threshold is None else threshold
    if not keys:
        raise MirrorError("cannot remove the last key")
    if not 1 <= new_threshold <= len(keys):
        raise MirrorError(f"threshold must be between 1 and {len(keys)} (the number of keys)")
    document = {
        "type": ROOT_TYPE,
        "product": old.product,
        "version": old.version + 1,
        "threshold": new_threshold,
        "expires": format_time(now + expires),
        "keys": keys,
    }
    envelope = sign_envelope(signer, encode_document(document), signing_keys)
    with Keyring([*old.keys.values(), *keys.values()]) as keyring:
        try:
            new = update_root(old, envelope.to_bytes(), keyring)
        except TrustError as e:
            raise MirrorError(f"key change refused: {e}") from None
        stale = []
        for channel in layout.channels():
            current = layout.release_envelope(channel)
            if current is None:
                continue
            try:
                trusted_signers(current, keyring, new.keys, new.threshold, channel)
            except TrustError:
                stale.append(channel)
    data = envelope.to_bytes()
    write_atomic(layout.root_version_file(new.version), data)
    write_atomic(layout.root_file, data)
    return KeyChange(new, stale)


def describe_keys(root: Root) -> list[str]:
    """Lines for `keys list`: root version, threshold, expiry, each fingerprint with uid."""
    lines = [f"root version {root.version}, threshold {root.threshold} of {len(root.keys)},"
             f" expires {format_time(root.expires)}"]
    with Keyring(root.keys.values()) as keyring:
        uids = {fpr: ", ".join(names) for fpr, names in keyring.user_ids().items()}
    for fpr in sorted(root.keys):
        lines.append(f"{fpr}  {uids.get(fpr, '?')}")
    return lines
