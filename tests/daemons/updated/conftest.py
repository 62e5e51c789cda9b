"""Fixtures of corral-updated's tests: throwaway gpg keys (ed25519, made once per
session), a signed mirror made with the real corral-mirror CLI, and every in-process
updater closed after its test (updated_harness)."""

from updated_harness import machines_closed, signers, upstream

__all__ = ["machines_closed", "signers", "upstream"]
