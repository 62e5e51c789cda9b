"""Fixtures of corral-updated's tests: throwaway gpg keys (ed25519, made once per
session) and a signed mirror made with the real corral-mirror CLI (updated_harness)."""

from updated_harness import signers, upstream

__all__ = ["signers", "upstream"]
