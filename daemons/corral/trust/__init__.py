"""The trust library: decides whether mirror data may be believed. No I/O.

Callers (corral-mirror's sync and import, the update engine) fetch bytes however they
like, then hand them here with a `SignatureVerifier` (OpenPGP lives behind it), the
trusted `Root` (pinned keys and threshold), what they saw before and the clock. Each
rejection has its own exception class under `RepositoryError`; transport failures are
`DownloadError`.
"""

from corral.trust.envelope import Envelope, Signature, encode_document, parse_envelope
from corral.trust.errors import (
    BadSignature,
    DowngradeRefused,
    DownloadError,
    DuplicateField,
    ExpiredDocument,
    InvalidField,
    MalformedDocument,
    MixAndMatch,
    PayloadHashMismatch,
    PayloadTooLarge,
    ReleaseIdMismatch,
    RepositoryError,
    RollbackAttack,
    SlowRetrieval,
    ThresholdNotMet,
    TrustError,
    UnknownField,
)
from corral.trust.payload import PayloadCheck, check_payload
from corral.trust.release import (
    DEFAULT_SKEW,
    Payload,
    Release,
    Seen,
    parse_release,
    release_document,
    verify_release,
)
from corral.trust.root import (
    ROOT_TYPE,
    Root,
    check_root_fresh,
    parse_root,
    trust_root_from_pins,
    update_root,
)
from corral.trust.signatures import (
    SignatureCheck,
    SignatureStatus,
    SignatureVerifier,
    check_signatures,
    count_signers,
    normalize_fingerprint,
    trusted_key_set,
    trusted_signers,
)
from corral.trust.times import format_time
from corral.trust.version import Version

__all__ = [
    "DEFAULT_SKEW",
    "ROOT_TYPE",
    "BadSignature",
    "DowngradeRefused",
    "DownloadError",
    "DuplicateField",
    "Envelope",
    "ExpiredDocument",
    "InvalidField",
    "MalformedDocument",
    "MixAndMatch",
    "Payload",
    "PayloadCheck",
    "PayloadHashMismatch",
    "PayloadTooLarge",
    "Release",
    "ReleaseIdMismatch",
    "RepositoryError",
    "RollbackAttack",
    "Root",
    "Seen",
    "Signature",
    "SignatureCheck",
    "SignatureStatus",
    "SignatureVerifier",
    "SlowRetrieval",
    "ThresholdNotMet",
    "TrustError",
    "UnknownField",
    "Version",
    "check_payload",
    "check_root_fresh",
    "check_signatures",
    "count_signers",
    "encode_document",
    "format_time",
    "normalize_fingerprint",
    "parse_envelope",
    "parse_release",
    "parse_root",
    "release_document",
    "trust_root_from_pins",
    "trusted_key_set",
    "trusted_signers",
    "update_root",
    "verify_release",
]
