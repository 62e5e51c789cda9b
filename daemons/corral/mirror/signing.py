"""Signing a document with the operator's keys, checked by the trust library before use.

A document is only written once the same code that clients run accepts its
signatures, so an operator who names too few or the wrong keys gets an error here
rather than a mirror that no client believes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.mirror.gpg import GpgError, Signer
from corral.mirror.keyring import Keyring
from corral.mirror.layout import MirrorError
from corral.trust import (
    Envelope,
    Root,
    Signature,
    TrustError,
    encode_document,
    normalize_fingerprint,
    trusted_signers,
)


def sign_envelope(signer: Signer, data: bytes, fingerprints: Sequence[str]) -> Envelope:
    if not fingerprints:
        raise MirrorError("no signing key given: pass --key FINGERPRINT")
    signatures = []
    for fpr in dict.fromkeys(normalize_fingerprint(f) for f in fingerprints):
        try:
            signatures.append(Signature(fpr, signer.sign(data, fpr)))
        except GpgError as e:
            raise MirrorError(str(e)) from None
    return Envelope(data, tuple(signatures))


def sign_for_root(
    signer: Signer, document: dict[str, Any], root: Root, fingerprints: Sequence[str]
) -> Envelope:
    """Sign `document` and check that the signatures meet `root`'s threshold."""
    envelope = sign_envelope(signer, encode_document(document), fingerprints)
    with Keyring(root.keys.values()) as keyring:
        try:
            trusted_signers(envelope, keyring, root.keys, root.threshold, "new document")
        except TrustError as e:
            raise MirrorError(
                f"{e}; trusted keys are {', '.join(sorted(root.keys))}"
            ) from None
    return envelope
