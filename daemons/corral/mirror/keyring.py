"""A throwaway GNUPGHOME with the public keys root documents carry; verifies signatures.

It implements the trust library's `SignatureVerifier`: it reports, per signature, what
gpg found (good, bad, unknown, revoked or expired key...). Which signers count is
decided there, by fingerprint, never by gpg's trust db (`--trust-model always`).

Why this file runs gpg itself: python-gnupg spent a gpg process (and helper threads)
per keyring, per key and per signature, and a gpg-agent; each process costs
milliseconds (docs/performance.md). Now:
- keys are imported together, at the first verification after `add`, with
  `--no-autostart` (public keys need no agent);
- all signatures over one document go to one `gpg --verify` (several detached
  signatures in one file, a report per signature after `NEWSIG`), when each is a
  single signature packet (`corral.mirror.armor`) and gpg's reports map one to one
  (`corral.mirror.gpg_status`); otherwise each signature is checked alone, as before.
A first sync of a one-key mirror runs three gpg processes (it ran five and an agent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from types import TracebackType

from corral.mirror.armor import is_single_signature
from corral.mirror.gpg import GpgError, gpg_program
from corral.mirror.gpg_status import read_user_ids, read_verification
from corral.trust import SignatureCheck, SignatureStatus

GPG_TIMEOUT = 60.0  # seconds; a verification takes milliseconds, a hung gpg is an error


class Keyring:
    """Public keys in a private GNUPGHOME, removed by `close()`; verifies detached signatures."""

    def __init__(self, armored_keys: Iterable[str] = ()) -> None:
        self.program = gpg_program()
        self.home = tempfile.mkdtemp(prefix="corral-keyring-")
        self._pending: list[str] = []
        for armor in armored_keys:
            self.add(armor)

    def add(self, armor: str) -> None:
        """A public key (or a revocation) to import before the next verification."""
        self._pending.append(armor)

    def _gpg(self, *args: str, data: bytes = b"") -> str:
        """Run gpg on this home; its status lines (`--status-fd 1`) are returned."""
        command = [self.program, "--batch", "--no-tty", "--no-autostart", "--trust-model", "always",
                   "--homedir", self.home, "--status-fd", "1", *args]
        try:
            done = subprocess.run(command, input=data, capture_output=True,
                                  timeout=GPG_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise GpgError(f"gpg {args[0]} did not finish in {GPG_TIMEOUT:g} s") from None
        except OSError as e:
            raise GpgError(f"cannot run gpg: {e}") from None
        # no exit-status check: gpg exits non-zero for a bad or unknown signature, and
        # for an unreadable key, which then counts as unknown; the status lines tell
        return done.stdout.decode(errors="replace")

    def _import_pending(self) -> None:
        if self._pending:
            armors, self._pending = self._pending, []
            self._gpg("--import", data="\n".join(armors).encode())

    def _verify(self, data: bytes, armors: Sequence[str]) -> str:
        fd, sig_path = tempfile.mkstemp(dir=self.home, suffix=".asc")
        try:
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(armors))
            return self._gpg("--verify", sig_path, "-", data=data)
        finally:
            os.unlink(sig_path)

    def _check_one(self, data: bytes, armor: str) -> SignatureCheck:
        checks = read_verification(self._verify(data, [armor])).checks
        # one entry must be one signature: none, or several, is not a signature entry
        return checks[0] if len(checks) == 1 else SignatureCheck(SignatureStatus.MALFORMED)

    def check_all(self, data: bytes, armors: Sequence[str]) -> list[SignatureCheck]:
        self._import_pending()
        results: list[SignatureCheck | None] = [None] * len(armors)
        for i, armor in enumerate(armors):
            if "BEGIN PGP SIGNATURE" not in armor:
                results[i] = SignatureCheck(SignatureStatus.MALFORMED)
        together = [i for i, armor in enumerate(armors)
                    if results[i] is None and is_single_signature(armor)]
        if len(together) > 1:
            run = read_verification(self._verify(data, [armors[i] for i in together]))
            if run.clean and len(run.checks) == len(together):
                for i, check in zip(together, run.checks, strict=True):
                    results[i] = check
        return [check if check is not None else self._check_one(data, armors[i])
                for i, check in enumerate(results)]

    def user_ids(self) -> dict[str, list[str]]:
        """Primary-key fingerprint -> user ids of the keys in this keyring."""
        self._import_pending()
        return read_user_ids(self._gpg("--list-keys", "--with-colons"))

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

