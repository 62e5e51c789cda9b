"""The format of Corral's data in etcd, recorded in `/corral/format` (pure).

Format 1 (no marker): v2 indexes are etcd revisions, one op record `/corral/op`.
Format 2: writes are batched, indexes are revision + delta (`layout`). Format 1's
data reads as format 2's with every delta 0, so a gateway finding no marker records
2 and serves the data as it is: the upgrade is the marker. Every format-1 gateway
must be stopped first: it would number its writes by revision alone, indexes a
format-2 batch may have taken. A marker naming a format this code does not know is
refused: guessing at a newer layout could serve wrong indexes, or damage the data.
"""

from __future__ import annotations

from corral import __version__
from corral.formats import FormatError

FORMAT = 2


def check_format(marker: bytes, where: str) -> None:
    """Nothing if `marker` (the value of /corral/format) names this code's format;
    FormatError saying what to do otherwise."""
    text = marker.strip()
    if not text.isdigit():
        raise FormatError(
            f"etcd at {where}: /corral/format holds {marker[:64]!r}, not a Corral data "
            f"format: restore it, or put {FORMAT} there if the data is Corral's"
        )
    found = int(text)
    if found > FORMAT:
        raise FormatError(
            f"etcd at {where} holds Corral data format {found}; this corral-store "
            f"(version {__version__}) reads formats up to {FORMAT}: upgrade corral-store"
        )
    if found < FORMAT:  # only a marker this code did not write names an older format
        raise FormatError(
            f"etcd at {where}: /corral/format names format {found}, which never had a "
            f"marker: put {FORMAT} there if the data is Corral's"
        )
