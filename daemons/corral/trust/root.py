"""The root of trust: which keys may sign, and how many must (TUF's root role).

A root document is signed like a release and carries its own version:

    {"type": "corral-root", "product": P, "version": N, "threshold": T,
     "expires": "YYYY-MM-DDTHH:MM:SSZ", "keys": {FINGERPRINT: ARMORED_PUBLIC_KEY, ...}}

Every field is checked for type, length and characters (`corral.trust.fields`): at
most `MAX_KEYS` keys, each a 40 or 64 hex digit fingerprint (once) with an armored
public key, integers that are not booleans, no unknown field.

Invariants:
- version N+1 is trusted only if signed by the threshold of version N's keys AND by its
  own threshold of its own keys, so a key change needs the old keys' consent;
- a client starting from pinned fingerprints accepts a root signed by the pinned
  threshold of pinned keys (and by its own threshold);
- versions never go back (RollbackAttack);
- a root expires, as TUF's does: otherwise an attacker who stops a mirror's updates
  (or replays an old copy) keeps a revoked key trusted forever. Only the newest root
  of a chain must be unexpired (`check_root_fresh`): older versions are links to walk,
  and the operator renews by signing a new version (`corral-mirror keys DIR renew`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from corral.trust import fields
from corral.trust.envelope import Envelope, parse_envelope
from corral.trust.errors import (
    ExpiredDocument,
    InvalidField,
    MalformedDocument,
    MixAndMatch,
    RollbackAttack,
)
from corral.trust.signatures import (
    SignatureVerifier,
    check_signatures,
    count_signers,
    normalize_fingerprint,
    trusted_key_set,
)
from corral.trust.times import format_time, parse_time

ROOT_TYPE = "corral-root"


@dataclass(frozen=True)
class Root:
    """A verified root document: the keys that may sign and how many must."""

    product: str
    version: int
    threshold: int
    keys: dict[str, str]  # fingerprint -> armored public key
    envelope: Envelope
    expires: datetime

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(self.keys)


_FIELDS = ("type", "product", "version", "threshold", "expires", "keys")
MAX_KEYS = 64  # signing keys in one root: each is checked by gpg on every verification
MAX_KEY_ARMOR = 64 << 10  # characters of one armored public key (ed25519: ~1 KiB)
_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


def parse_root(envelope: Envelope, what: str = "root") -> Root:
    """The fields of a root document, checked for shape only (no signatures)."""
    doc = envelope.document()
    if doc.get("type") != ROOT_TYPE:
        raise MalformedDocument(f"{what}: not a root document (type {doc.get('type')!r})")
    fields.only(doc, _FIELDS, what)
    product = fields.text(doc, "product", fields.PRODUCT, what)
    version = fields.integer(doc, "version", what, 1)
    keys = fields.mapping(doc, "keys", what)
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidField(f"{what}: {len(keys)} keys, expected 1 to {MAX_KEYS}")
    normalized: dict[str, str] = {}
    for fingerprint, armor in keys.items():
        fpr = normalize_fingerprint(fingerprint)
        if not fields.FINGERPRINT.fullmatch(fpr):
            raise InvalidField(f"{what}: key {fingerprint[:80]!r} is not a fingerprint"
                               " (40 or 64 hex digits)")
        if fpr in normalized:
            raise InvalidField(f"{what}: key {fpr} listed twice")
        if (not isinstance(armor, str) or len(armor) > MAX_KEY_ARMOR
                or not armor.lstrip().startswith(_ARMOR_BEGIN)):
            raise InvalidField(f"{what}: key {fpr} is not an armored public key of at most"
                               f" {MAX_KEY_ARMOR} characters")
        normalized[fpr] = armor
    threshold = fields.integer(doc, "threshold", what, 1, len(keys))
    expires = parse_time(doc.get("expires"), f"{what}: expires")
    return Root(product, version, threshold, normalized, envelope, expires)


def check_root_fresh(root: Root, now: datetime, skew: timedelta) -> None:
    """Refuse a root past its expiry (beyond the clock-skew allowance): a freeze attack."""
    if now > root.expires + skew:
        raise ExpiredDocument(
            f"root version {root.version} expired at {format_time(root.expires)}, now"
            f" {format_time(now)} (skew allowance {skew}); the mirror's keys were not"
            " renewed (`corral-mirror keys DIR renew`) or the mirror is frozen"
        )


def trust_root_from_pins(
    data: bytes,
    verifier: SignatureVerifier,
    pinned: Iterable[str],
    threshold: int,
    product: str | None = None,
) -> Root:
    """First contact: accept a root signed by `threshold` of the pinned keys."""
    envelope = parse_envelope(data, "root.json")
    root = parse_root(envelope, "root.json")
    if product is not None and root.product != product:
        raise MixAndMatch(f"root.json is for product {root.product!r}, expected {product!r}")
    pinned = list(pinned)
    trusted_key_set(pinned, threshold)  # a configuration error, before any gpg run
    checks = check_signatures(envelope, verifier, "root.json")
    count_signers(envelope, checks, pinned, threshold, "root.json (pinned keys)")
    count_signers(envelope, checks, root.keys, root.threshold, "root.json (its own keys)")
    return root


def update_root(trusted: Root, data: bytes, verifier: SignatureVerifier) -> Root:
    """Accept the next root version, signed by the old threshold and the new one."""
    what = f"root version {trusted.version + 1}"
    envelope = parse_envelope(data, what)
    new = parse_root(envelope, what)
    if new.version != trusted.version + 1:
        raise RollbackAttack(
            f"{what}: document says version {new.version}, expected {trusted.version + 1}"
        )
    if new.product != trusted.product:
        raise MalformedDocument(f"{what}: product changed from {trusted.product!r}")
    checks = check_signatures(envelope, verifier, what)
    count_signers(envelope, checks, trusted.keys, trusted.threshold, f"{what} (old keys)")
    count_signers(envelope, checks, new.keys, new.threshold, f"{what} (new keys)")
    return new
