"""Why a release, a root of trust or a payload was refused.

Two families, as python-tuf's ngclient: `RepositoryError` when the mirror handed us
data we must not trust (each rejection its own class, so callers and tests can tell
them apart), and `DownloadError` when the data could not be fetched at all. Messages
say what was expected and what was found; they never need a traceback to be read.
"""

from __future__ import annotations


class TrustError(Exception):
    """Base of every error raised while fetching or verifying mirror data."""


class RepositoryError(TrustError):
    """The mirror served data that must be rejected."""


class MalformedDocument(RepositoryError):
    """Not a signed document of the expected type (bad JSON, missing or wrong fields)."""


class BadSignature(RepositoryError):
    """1. A signature is missing, malformed, or does not match the signed bytes."""


class ThresholdNotMet(RepositoryError):
    """2. Fewer distinct trusted signers than the threshold.

    Signatures by unknown, revoked or expired keys do not count.
    """


class ExpiredDocument(RepositoryError):
    """3. The document's expiry has passed, beyond the clock-skew allowance (freeze attack)."""


class RollbackAttack(RepositoryError):
    """4. A serial (or root version) lower than seen, or the same serial with other content."""


class DowngradeRefused(RepositoryError):
    """5. A version lower than the installed one, on a channel that does not allow it."""


class PayloadTooLarge(RepositoryError):
    """6. The payload has more bytes than declared (endless data): reading stopped there."""


class PayloadHashMismatch(RepositoryError):
    """7. The payload's sha256 (or a short payload's size) differs from the declared one."""


class MixAndMatch(RepositoryError):
    """8. A release for another channel or another product than the one asked for."""


class DownloadError(TrustError):
    """The mirror could not be reached, or a transfer failed before it completed."""


class SlowRetrieval(DownloadError):
    """A transfer was slower than the minimum rate or not done by its deadline: abandoned
    (a slow-retrieval attack, or a link too slow for the configured pace)."""


class InvalidField(MalformedDocument):
    """A field of a signed document has the wrong type, length or characters."""


class UnknownField(MalformedDocument):
    """A signed document carries a field this version does not know (it would be ignored)."""


class ReleaseIdMismatch(MalformedDocument):
    """A release's `release_id` is not `<product>-<version>-<sha256[:16]>` of its content."""


class DuplicateField(MalformedDocument):
    """A signed document's JSON names a field twice (readers would disagree on its value)."""
