"""Release documents: what a channel currently offers, and whether to believe it.

    {"type": "corral-release", "product": P, "channel": C, "version": "1.2.3",
     "serial": 7, "release_id": "P-1.2.3-<sha256[:16]>", "issued": T, "expires": T,
     "payload": {"path": "pool/<sha256>/<name>", "size": N, "sha256": HEX},
     "min_version": "1.0.0" | null, "allow_downgrade": false, "root_version": R}

Times are UTC, ISO 8601 with a `Z`. Every field is checked for type, length and
characters (`corral.trust.fields`): product and channel from a fixed alphabet, versions
at most 64 characters (they go into GRUB's 1 KiB environment block), integers that are
not booleans, `payload.path` under its own sha256, `release_id` exactly
`<product>-<version>-<sha256[:16]>` (as `publish` has always written it, so every
document it signed still passes), and no unknown field. `serial` increases by at least one on every
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

from corral.trust import fields
from corral.trust.envelope import Envelope, parse_envelope
from corral.trust.errors import (
    DowngradeRefused,
    ExpiredDocument,
    InvalidField,
    MalformedDocument,
    MixAndMatch,
    ReleaseIdMismatch,
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
    """A release's payload: its path in the pool, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Release:
    """A verified release document of one channel."""

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


_FIELDS = ("type", "product", "channel", "version", "serial", "release_id", "issued",
           "expires", "payload", "min_version", "allow_downgrade", "root_version")
_PAYLOAD_FIELDS = ("path", "size", "sha256")


def _version(doc: dict[str, Any], name: str, what: str) -> Version:
    try:
        return Version(doc.get(name))  # type: ignore[arg-type]
    except ValueError as e:
        raise InvalidField(f"{what}: {name}: {e}") from None


def _fields(doc: dict[str, Any], what: str) -> dict[str, Any]:
    """Every field checked for type, length and characters (`corral.trust.fields`)."""
    if doc.get("type") != RELEASE_TYPE:
        raise MalformedDocument(f"{what}: not a release document (type {doc.get('type')!r})")
    fields.only(doc, _FIELDS, what)
    product = fields.text(doc, "product", fields.PRODUCT, what)
    fields.text(doc, "channel", fields.CHANNEL, what)
    version = _version(doc, "version", what)
    fields.integer(doc, "serial", what, 0)
    fields.integer(doc, "root_version", what, 1)
    fields.flag(doc, "allow_downgrade", what)
    if doc.get("min_version") is not None:
        _version(doc, "min_version", what)
    payload = fields.mapping(doc, "payload", what)
    fields.only(payload, _PAYLOAD_FIELDS, f"{what}: payload")
    path = fields.text(payload, "path", fields.PAYLOAD_PATH, f"{what}: payload")
    sha256 = fields.text(payload, "sha256", fields.SHA256, f"{what}: payload")
    fields.integer(payload, "size", f"{what}: payload", 0)
    if path.split("/")[1] != sha256:
        raise InvalidField(f"{what}: payload path {path!r} is not under its sha256 {sha256}")
    expected = release_id(product, version.text, sha256)
    if doc.get("release_id") != expected:
        raise ReleaseIdMismatch(
            f"{what}: release_id {doc.get('release_id')!r} is not {expected!r}"
            " (<product>-<version>-<first 16 hex digits of the payload's sha256>)"
        )
    issued = parse_time(doc.get("issued"), f"{what}: issued")
    if parse_time(doc.get("expires"), f"{what}: expires") < issued:
        raise InvalidField(f"{what}: expires before it was issued")
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
        payload=Payload(p["path"], p["size"], p["sha256"]),
        min_version=Version(doc["min_version"]) if doc.get("min_version") is not None else None,
        allow_downgrade=doc["allow_downgrade"],
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
