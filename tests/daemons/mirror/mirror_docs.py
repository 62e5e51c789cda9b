"""Test helpers: signed root and release documents made with real gpg keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from corral.mirror.gpg import Signer
from corral.trust import (
    Envelope,
    Payload,
    Signature,
    encode_document,
    format_time,
    release_document,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAYLOAD_BYTES = b"an operating system image\n" * 1000
PAYLOAD_SHA256 = __import__("hashlib").sha256(PAYLOAD_BYTES).hexdigest()
PAYLOAD = Payload(f"pool/{PAYLOAD_SHA256}/os.img", len(PAYLOAD_BYTES), PAYLOAD_SHA256)


def sign(signer: Signer, data: bytes, *fingerprints: str) -> bytes:
    sigs = tuple(Signature(f, signer.sign(data, f)) for f in fingerprints)
    return Envelope(data, sigs).to_bytes()


def root_doc(
    signer: Signer, keys: list[str], threshold: int, version: int = 1,
    expires: datetime = NOW + timedelta(days=365),
) -> dict[str, Any]:
    return {
        "type": "corral-root",
        "product": "corral-os",
        "version": version,
        "threshold": threshold,
        "expires": format_time(expires),
        "keys": {k: signer.public_key(k) for k in keys},
    }


def release_doc(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "product": "corral-os",
        "channel": "stable",
        "version": "1.2.3",
        "serial": 5,
        "issued": NOW - timedelta(days=1),
        "expires": NOW + timedelta(days=29),
        "payload": PAYLOAD,
        "root_version": 1,
    }
    fields.update(overrides)
    return release_document(**fields)


def encode(doc: dict[str, Any]) -> bytes:
    return encode_document(doc)
