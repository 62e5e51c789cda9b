"""Signing over the system gpg (python-gnupg), for the operator.

`Signer` uses the operator's keyring (GNUPGHOME or --gnupghome) and its secret keys.
Verifying is `corral.mirror.keyring`'s work. python-gnupg (and the logging and
threading it pulls in, ~10 ms) is imported only when a Signer is made: `sync`,
`import` and clients never sign.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from corral.trust import normalize_fingerprint

if TYPE_CHECKING:
    import gnupg


class GpgError(OSError):
    """gpg could not do what was asked (no such secret key, gpg missing or hung...).

    An OSError, as a failing external program is: the update engine reports those and
    tries again at its next check instead of stopping."""


def gpg_program() -> str:
    """The path of the gpg on PATH (resolved once per keyring, not searched per run)."""
    program = shutil.which("gpg")
    if program is None:
        raise GpgError("gpg not found: install Debian's gnupg package")
    return program


def _gpg(home: str | None) -> gnupg.GPG:
    gpg_program()
    import gnupg  # here, not at the top: see the module docstring

    return gnupg.GPG(gnupghome=home, options=["--pinentry-mode", "loopback"])


class Signer:
    """Makes detached signatures with the operator's secret keys."""

    def __init__(self, gnupghome: str | None = None) -> None:
        self.home = gnupghome or os.environ.get("GNUPGHOME")
        self.gpg = _gpg(self.home)

    def sign(self, data: bytes, fingerprint: str) -> str:
        # No passphrase argument: python-gnupg would then read one from the data's
        # first line. Operator keys are unlocked by gpg-agent.
        result = self.gpg.sign(data, keyid=fingerprint, detach=True, binary=False)
        if not result.data:
            raise GpgError(
                f"cannot sign with key {fingerprint}: {result.status or 'no secret key?'}"
            )
        made_by = normalize_fingerprint(result.fingerprint or "")
        if made_by not in self._key_and_subkeys(fingerprint):
            raise GpgError(f"gpg signed with {made_by or '?'}, not with key {fingerprint}")
        signature: bytes = result.data
        return signature.decode()

    def _key_and_subkeys(self, fingerprint: str) -> set[str]:
        fpr = normalize_fingerprint(fingerprint)
        for key in self.gpg.list_keys(secret=True):
            if key["fingerprint"] == fpr:
                return {fpr} | {sub[2] for sub in key.get("subkeys", []) if len(sub) > 2}
        return {fpr}

    def public_key(self, fingerprint: str) -> str:
        """The armored public key; the fingerprint must name a primary key exactly."""
        fpr = normalize_fingerprint(fingerprint)
        known = {k["fingerprint"] for k in self.gpg.list_keys()}
        if fpr not in known:
            raise GpgError(f"no public key {fpr} in the keyring {self.home or '~/.gnupg'}")
        armor = self.gpg.export_keys(fpr, minimal=True)
        return str(armor)

