"""Establishing the trusted root from a mirror: first contact by pins, then the chain.

Shared by clients (`corral.mirror.client`) and by `sync`/`import`, so a mirror
believes exactly what its clients would.
"""

from __future__ import annotations

from corral.mirror.fetch import Fetcher, NotFound
from corral.mirror.keyring import Keyring
from corral.trust import Root, parse_envelope, parse_root, trust_root_from_pins, update_root

DOCUMENT_LIMIT = 1 << 20  # root and release documents are a few KiB
MAX_ROOT_STEPS = 256  # bounds the walk against a mirror serving endless root versions


def bootstrap_root(
    fetcher: Fetcher, keyring: Keyring, pinned: list[str], threshold: int,
    product: str | None = None,
) -> tuple[Root, bytes]:
    """The mirror's current root.json, accepted only if the pinned keys signed it."""
    data = fetcher.document("root.json", DOCUMENT_LIMIT)
    _with_keys(keyring, data)
    return trust_root_from_pins(data, keyring, pinned, threshold, product), data


def walk_roots(fetcher: Fetcher, keyring: Keyring, trusted: Root) -> list[tuple[Root, bytes]]:
    """Every root version after `trusted`, each verified by its predecessor."""
    newer: list[tuple[Root, bytes]] = []
    for _ in range(MAX_ROOT_STEPS):
        path = f"root/{trusted.version + 1}.json"
        try:
            data = fetcher.document(path, DOCUMENT_LIMIT)
        except NotFound:
            return newer
        _with_keys(keyring, data)
        trusted = update_root(trusted, data, keyring)
        newer.append((trusted, data))
    return newer


def _with_keys(keyring: Keyring, data: bytes) -> None:
    """Import the public keys a root carries; which of them count is decided by pins."""
    root = parse_root(parse_envelope(data, "root"), "root")
    for armor in root.keys.values():
        keyring.add(armor)
