"""The signed-document envelope shared by root and release documents.

On the mirror a document is one JSON file, so that replacing it is one atomic rename:

    {"signed": "<the document, JSON text>", "signatures": [{"keyid": FPR, "sig": ARMOR}]}

`signed` is kept as text: the bytes that were signed are exactly its UTF-8 encoding,
so no canonical JSON is needed and re-serialising cannot break a signature. `keyid` is
only a hint for humans; who signed is decided by verifying each signature.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from corral.trust.errors import DuplicateField, InvalidField, MalformedDocument

MAX_SIGNATURES = 64  # as many as a root may list keys (each costs gpg work to check)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DuplicateField(f"signed document names {twice[:80]!r} twice")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


@dataclass(frozen=True)
class Signature:
    """A detached, ASCII-armored signature and the key id it names."""

    keyid: str
    armor: str


@dataclass(frozen=True)
class Envelope:
    """Signed bytes and the signatures over them."""

    signed: bytes
    signatures: tuple[Signature, ...]

    @property
    def digest(self) -> str:
        """sha256 of the signed bytes: two documents with equal digests say the same."""
        return hashlib.sha256(self.signed).hexdigest()

    def document(self) -> dict[str, Any]:
        """The signed JSON object (not yet checked for its fields).

        Strict JSON: a name given twice in one object (which of the two would another
        reader take?) and NaN or Infinity are refused."""
        try:
            value = json.loads(self.signed, object_pairs_hook=_unique,
                               parse_constant=_no_constant)
        except ValueError as e:
            raise MalformedDocument(f"signed document is not JSON: {e}") from None
        if not isinstance(value, dict):
            raise MalformedDocument("signed document is not a JSON object")
        return value

    def to_bytes(self) -> bytes:
        body = {
            "signed": self.signed.decode(),
            "signatures": [{"keyid": s.keyid, "sig": s.armor} for s in self.signatures],
        }
        return (json.dumps(body, indent=1) + "\n").encode()


def parse_envelope(data: bytes, what: str) -> Envelope:
    """Parse an envelope; `what` names the file in error messages."""
    try:
        body = json.loads(data)
    except ValueError as e:
        raise MalformedDocument(f"{what}: not JSON: {e}") from None
    if not isinstance(body, dict) or not isinstance(body.get("signed"), str):
        raise MalformedDocument(f"{what}: not a signed envelope (no 'signed' text)")
    raw = body.get("signatures", [])
    if not isinstance(raw, list):
        raise MalformedDocument(f"{what}: 'signatures' is not a list")
    if len(raw) > MAX_SIGNATURES:
        raise InvalidField(f"{what}: {len(raw)} signatures, at most {MAX_SIGNATURES}")
    signatures = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("sig"), str):
            raise MalformedDocument(f"{what}: a signature entry has no 'sig' text")
        signatures.append(Signature(str(item.get("keyid", "")), item["sig"]))
    return Envelope(body["signed"].encode(), tuple(signatures))


def encode_document(document: dict[str, Any]) -> bytes:
    """The bytes to sign for a document (stable key order, readable in a diff)."""
    return json.dumps(document, indent=1, sort_keys=True).encode()
