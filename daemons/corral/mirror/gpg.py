"""OpenPGP over the system gpg (python-gnupg): signing for the operator, verifying for clients.

`Signer` uses the operator's keyring (GNUPGHOME or --gnupghome) and its secret keys.
`Keyring` is a private, throwaway GNUPGHOME holding only the public keys that root
documents carry; it implements the trust library's `SignatureVerifier`, so what
counts as a trusted signer is decided there, by fingerprint, never by gpg's trust db.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from types import TracebackType

import gnupg

from corral.trust import SignatureCheck, SignatureStatus, normalize_fingerprint


class GpgError(Exception):
    """gpg could not do what was asked (no such secret key, gpg missing...)."""


def _gpg(home: str | None) -> gnupg.GPG:
    if shutil.which("gpg") is None:
        raise GpgError("gpg not found: install Debian's gnupg package")
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
        return result.data.decode()

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


class Keyring:
    """A throwaway GNUPGHOME with given public keys; verifies detached signatures."""

    def __init__(self, armored_keys: Iterable[str] = ()) -> None:
        self.home = tempfile.mkdtemp(prefix="corral-keyring-")
        self.gpg = _gpg(self.home)
        for armor in armored_keys:
            self.add(armor)

    def add(self, armor: str) -> None:
        self.gpg.import_keys(armor)

    def check(self, data: bytes, armor: str) -> SignatureCheck:
        if "BEGIN PGP SIGNATURE" not in armor:
            return SignatureCheck(SignatureStatus.MALFORMED)
        fd, sig_path = tempfile.mkstemp(dir=self.home, suffix=".asc")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(armor)
            result = self.gpg.verify_data(sig_path, data)
        finally:
            os.unlink(sig_path)
        fpr = normalize_fingerprint(
            getattr(result, "pubkey_fingerprint", None) or result.fingerprint or ""
        )
        if result.key_status == "signing key was revoked":
            return SignatureCheck(SignatureStatus.REVOKED_KEY, fpr)
        if result.key_status == "signing key has expired":
            return SignatureCheck(SignatureStatus.EXPIRED_KEY, fpr)
        if result.valid and fpr:
            return SignatureCheck(SignatureStatus.GOOD, fpr)
        if result.status == "signature bad":
            return SignatureCheck(SignatureStatus.BAD, fpr)
        if result.status in ("no public key", "signature error"):
            return SignatureCheck(SignatureStatus.UNKNOWN_KEY, fpr or (result.key_id or ""))
        return SignatureCheck(SignatureStatus.MALFORMED)

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Keyring:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def keyring_for(roots: Iterable[dict[str, str]]) -> Keyring:
    """A keyring with every public key that the given roots' `keys` maps carry."""
    keyring = Keyring()
    for keys in roots:
        for armor in keys.values():
            keyring.add(armor)
    return keyring
