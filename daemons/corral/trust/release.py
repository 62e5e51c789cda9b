"""Release documents: what a channel currently offers, and whether to believe it.

    {"type": "corral-release", "product": P, "channel": C, "version": "1.2.3",
     "serial": 7, "release_id": "P-1.2.3-<sha256[:16]>", "issued": T, "expires": T,
     "payload": {"path": "pool/<sha256>/<name>", "size": N, "sha256": HEX},
     "min_version": "1.0.0" | null, "allow_downgrade": false, "root_version": R}

Times are UTC, ISO 8601 with a `Z`. `serial` increases by at least one on every
signature of the channel (publish, promote, resign); `release_id` names the content
(product, version, payload) and survives promotion and re-signing, so a release marked
bad stays bad on every channel. `min_version` is the oldest installed version this
release may update from (the update engine enforces it).

`verify_release` is pure: bytes, a verifier, the trusted root, what was seen before
and the clock go in; a `Release` comes out or a specific `RepositoryError` is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from corral.trust.envelope import Envelope, parse_envelope
from corral.trust.errors import (
    DowngradeRefused,
    ExpiredDocument,
    MalformedDocument,
    MixAndMatch,
    RollbackAttack,
)
from corral.trust.root import Root, check_root_fresh
from corral.trust.signatures import SignatureVerifier, trusted_signers
from corral.trust.times import format_time, parse_time
from corral.trust.version import Version

RELEASE_TYPE = "corral-release"
DEFAULT_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Payload:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Release:
    product: str
    channel: str
    version: Version
    serial: int
    release_id: str
    issued: datetime
    expires: datetime
    payload: Payload
    min_version: Version | None
    allow_downgrade: bool
    root_version: int
    envelope: Envelope

    @property
    def digest(self) -> str:
        return self.envelope.digest


@dataclass(frozen=True)
class Seen:
    """What a client remembers of a channel, for rollback protection."""

    serial: int
    digest: str


def release_id(product: str, version: str, sha256: str) -> str:
    return f"{product}-{version}-{sha256[:16]}"


def release_document(
    *,
    product: str,
    channel: str,
    version: str,
    serial: int,
    issued: datetime,
    expires: datetime,
    payload: Payload,
    root_version: int,
    min_version: str | None = None,
    allow_downgrade: bool = False,
) -> dict[str, Any]:
    """A release document to be signed (checked by parsing it back)."""
    doc = {
        "type": RELEASE_TYPE,
        "product": product,
        "channel": channel,
        "version": version,
        "serial": serial,
        "release_id": release_id(product, version, payload.sha256),
        "issued": format_time(issued),
        "expires": format_time(expires),
        "payload": {"path": payload.path, "size": payload.size, "sha256": payload.sha256},
        "min_version": min_version,
        "allow_downgrade": allow_downgrade,
        "root_version": root_version,
    }
    _fields(doc, "new release")
    return doc


def _fields(doc: dict[str, Any], what: str) -> dict[str, Any]:
    if doc.get("type") != RELEASE_TYPE:
        raise MalformedDocument(f"{what}: not a release document (type {doc.get('type')!r})")
    for name in ("product", "channel", "release_id"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise MalformedDocument(f"{what}: missing {name}")
    for name in ("serial", "root_version"):
        if not isinstance(doc.get(name), int) or doc[name] < 0:
            raise MalformedDocument(f"{what}: {name} must be a non-negative integer")
    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise MalformedDocument(f"{what}: missing payload")
    path, size, digest = payload.get("path"), payload.get("size"), payload.get("sha256")
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or ".." in path.split("/")
    ):
        raise MalformedDocument(f"{what}: payload path {path!r} is not a relative path")
    if not isinstance(size, int) or size < 0:
        raise MalformedDocument(f"{what}: payload size must be a non-negative integer")
    if not isinstance(digest, str) or len(digest) != 64:
        raise MalformedDocument(f"{what}: payload sha256 must be 64 hex digits")
    try:
        Version(doc.get("version"))  # type: ignore[arg-type]
        if doc.get("min_version") is not None:
            Version(doc["min_version"])
    except ValueError as e:
        raise MalformedDocument(f"{what}: {e}") from None
    return doc


def parse_release(envelope: Envelope, what: str = "release") -> Release:
    """The fields of a release document, checked for shape only (no signatures)."""
    doc = _fields(envelope.document(), what)
    p = doc["payload"]
    return Release(
        product=doc["product"],
        channel=doc["channel"],
        version=Version(doc["version"]),
        serial=doc["serial"],
        release_id=doc["release_id"],
        issued=parse_time(doc.get("issued"), f"{what}: issued"),
        expires=parse_time(doc.get("expires"), f"{what}: expires"),
        payload=Payload(p["path"], p["size"], p["sha256"].lower()),
        min_version=Version(doc["min_version"]) if doc.get("min_version") else None,
        allow_downgrade=bool(doc.get("allow_downgrade")),
        root_version=doc["root_version"],
        envelope=envelope,
    )


def verify_release(
    data: bytes,
    *,
    verifier: SignatureVerifier,
    root: Root,
    product: str,
    channel: str,
    now: datetime,
    seen: Seen | None = None,
    installed: Version | None = None,
    skew: timedelta = DEFAULT_SKEW,
) -> Release:
    """Accept a channel's release document or raise the specific RepositoryError.

    Order matters: a fresh root first (a frozen root would keep revoked keys
    trusted), then signatures (nothing unsigned is even interpreted), mix-and-match,
    expiry, rollback and downgrade.
    """
    check_root_fresh(root, now, skew)
    what = f"release for channel {channel!r}"
    envelope = parse_envelope(data, what)
    trusted_signers(envelope, verifier, root.keys, root.threshold, what)
    release = parse_release(envelope, what)
    if release.product != product or release.channel != channel:
        raise MixAndMatch(
            f"{what}: document is for product {release.product!r} channel"
            f" {release.channel!r}, expected product {product!r} channel {channel!r}"
        )
    if now > release.expires + skew:
        raise ExpiredDocument(
            f"{what}: expired at {format_time(release.expires)}, now {format_time(now)}"
            f" (skew allowance {skew}); the mirror is stale or frozen"
        )
    if seen is not None:
        if release.serial < seen.serial:
            raise RollbackAttack(
                f"{what}: serial {release.serial} is lower than {seen.serial} already seen"
            )
        if release.serial == seen.serial and release.digest != seen.digest:
            raise RollbackAttack(
                f"{what}: serial {release.serial} already seen with different content"
            )
    if installed is not None and release.version < installed and not release.allow_downgrade:
        raise DowngradeRefused(
            f"{what}: version {release.version} is lower than installed {installed}"
            " and the channel does not allow downgrade"
        )
    return release
