"""Counting trusted signers, given a verifier that reports on each signature.

The OpenPGP work (gpg) is I/O and lives behind the `SignatureVerifier` protocol; this
file only decides. Invariants:
- a signature that is malformed, or made by a trusted key but not matching the bytes,
  rejects the document (BadSignature): it is tampering, not noise;
- signatures by unknown, revoked or expired keys are ignored: they never count;
- each trusted key counts once, however many signatures it made.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from corral.trust.envelope import Envelope
from corral.trust.errors import BadSignature, ThresholdNotMet


class SignatureStatus(enum.Enum):
    GOOD = "good"
    BAD = "bad"  # made by a known key, but not over these bytes
    MALFORMED = "malformed"  # not an OpenPGP signature at all
    UNKNOWN_KEY = "unknown key"
    REVOKED_KEY = "revoked key"
    EXPIRED_KEY = "expired key"


@dataclass(frozen=True)
class SignatureCheck:
    status: SignatureStatus
    fingerprint: str = ""  # primary-key fingerprint, upper-case hex, when known


class SignatureVerifier(Protocol):
    def check(self, data: bytes, armor: str) -> SignatureCheck:
        """Verify one detached signature over data."""
        ...


def normalize_fingerprint(fpr: str) -> str:
    return fpr.replace(" ", "").upper()


def trusted_signers(
    envelope: Envelope,
    verifier: SignatureVerifier,
    keys: Iterable[str],
    threshold: int,
    what: str,
) -> frozenset[str]:
    """The trusted fingerprints that signed `envelope`; raise unless at least `threshold`."""
    trusted = {normalize_fingerprint(k) for k in keys}
    if not 1 <= threshold <= len(trusted):
        # a threshold of 0 would trust anything: a configuration error, never a pass
        raise ValueError(f"threshold {threshold} must be between 1 and {len(trusted)} keys")
    if not envelope.signatures:
        raise BadSignature(f"{what}: no signature")
    signers: set[str] = set()
    ignored: list[str] = []
    for signature in envelope.signatures:
        result = verifier.check(envelope.signed, signature.armor)
        fpr = normalize_fingerprint(result.fingerprint)
        if result.status is SignatureStatus.MALFORMED:
            raise BadSignature(f"{what}: signature {signature.keyid or '?'} is malformed")
        if result.status is SignatureStatus.BAD:
            raise BadSignature(
                f"{what}: signature by {fpr or signature.keyid or '?'} does not match the"
                " document (modified after signing?)"
            )
        if result.status is SignatureStatus.GOOD and fpr in trusted:
            signers.add(fpr)
        else:
            ignored.append(f"{fpr or signature.keyid or '?'} ({result.status.value})")
    if len(signers) < threshold:
        detail = f"; ignored: {', '.join(ignored)}" if ignored else ""
        raise ThresholdNotMet(
            f"{what}: {len(signers)} trusted signature(s), threshold is {threshold}{detail}"
        )
    return frozenset(signers)
