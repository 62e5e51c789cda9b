"""Counting trusted signers, given a verifier that reports on each signature.

The OpenPGP work (gpg) is I/O and lives behind the `SignatureVerifier` protocol; this
file only decides. The verifier gets all of a document's signatures at once, so it can
check them in one gpg run (a process per signature was most of a sync's gpg time), and
a document checked against two key sets (a root: the pinned keys and its own, or the
old root's and the new) is verified once and counted twice (`check_signatures`, then
`count_signers`). Invariants:
- a signature that is malformed, or made by a trusted key but not matching the bytes,
  rejects the document (BadSignature): it is tampering, not noise;
- signatures by unknown, revoked or expired keys are ignored: they never count;
- each trusted key counts once, however many signatures it made.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from corral.trust.envelope import Envelope
from corral.trust.errors import BadSignature, ThresholdNotMet


class SignatureStatus(enum.Enum):
    """What verification found about one signature."""

    GOOD = "good"
    BAD = "bad"  # made by a known key, but not over these bytes
    MALFORMED = "malformed"  # not an OpenPGP signature at all
    UNKNOWN_KEY = "unknown key"
    REVOKED_KEY = "revoked key"
    EXPIRED_KEY = "expired key"


@dataclass(frozen=True)
class SignatureCheck:
    """One signature's status and the key that made it, when known."""

    status: SignatureStatus
    fingerprint: str = ""  # primary-key fingerprint, upper-case hex, when known


class SignatureVerifier(Protocol):
    """Checks detached signatures (gpg in corral.mirror.keyring)."""

    def check_all(self, data: bytes, armors: Sequence[str]) -> list[SignatureCheck]:
        """Verify detached signatures over data: one result per armor, in their order."""
        ...


def normalize_fingerprint(fpr: str) -> str:
    return fpr.replace(" ", "").upper()


def check_signatures(
    envelope: Envelope, verifier: SignatureVerifier, what: str
) -> tuple[SignatureCheck, ...]:
    """Verify every signature of `envelope` once; raise on a missing, malformed or bad one."""
    if not envelope.signatures:
        raise BadSignature(f"{what}: no signature")
    results = verifier.check_all(envelope.signed, [s.armor for s in envelope.signatures])
    if len(results) != len(envelope.signatures):
        raise ValueError(f"verifier gave {len(results)} results for"
                         f" {len(envelope.signatures)} signatures")
    for signature, result in zip(envelope.signatures, results, strict=True):
        if result.status is SignatureStatus.MALFORMED:
            raise BadSignature(f"{what}: signature {signature.keyid or '?'} is malformed")
        if result.status is SignatureStatus.BAD:
            fpr = normalize_fingerprint(result.fingerprint)
            raise BadSignature(
                f"{what}: signature by {fpr or signature.keyid or '?'} does not match the"
                " document (modified after signing?)"
            )
    return tuple(results)


def trusted_key_set(keys: Iterable[str], threshold: int) -> set[str]:
    """The normalized fingerprints; ValueError unless 1 <= threshold <= their number."""
    trusted = {normalize_fingerprint(k) for k in keys}
    if not 1 <= threshold <= len(trusted):
        # a threshold of 0 would trust anything: a configuration error, never a pass
        raise ValueError(f"threshold {threshold} must be between 1 and {len(trusted)} keys")
    return trusted


def count_signers(
    envelope: Envelope,
    checks: Sequence[SignatureCheck],
    keys: Iterable[str],
    threshold: int,
    what: str,
) -> frozenset[str]:
    """The trusted fingerprints among checked signatures; raise unless at least `threshold`."""
    trusted = trusted_key_set(keys, threshold)
    signers: set[str] = set()
    ignored: list[str] = []
    for signature, result in zip(envelope.signatures, checks, strict=True):
        fpr = normalize_fingerprint(result.fingerprint)
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


def trusted_signers(
    envelope: Envelope,
    verifier: SignatureVerifier,
    keys: Iterable[str],
    threshold: int,
    what: str,
) -> frozenset[str]:
    """The trusted fingerprints that signed `envelope`; raise unless at least `threshold`."""
    keys = list(keys)
    trusted_key_set(keys, threshold)  # a configuration error is raised before any gpg run
    checks = check_signatures(envelope, verifier, what)
    return count_signers(envelope, checks, keys, threshold, what)
