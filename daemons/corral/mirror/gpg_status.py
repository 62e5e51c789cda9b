"""Reading gpg's machine-readable output: `--status-fd` of a verification, key listings.

`gpg --verify` of a file holding several detached signatures reports each one after
a `NEWSIG` line (as apt relies on for Release.gpg). `read_verification` turns those
reports into one `SignatureCheck` per signature, in order, and says whether the run
was clean enough to map them back to their signatures: gpg stops at the first bad
signature and skips blocks it cannot read (`NODATA`), so anything but one report per
signature and no trouble line means the caller checks each signature on its own.
Pure functions: the gpg runs are in `corral.mirror.keyring`.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.trust import SignatureCheck, SignatureStatus, normalize_fingerprint

_PREFIX = "[GNUPG:] "
# lines after which the reports may not match the signatures one to one
_TROUBLE = frozenset({"NODATA", "UNEXPECTED", "FAILURE", "ERROR", "BADARMOR"})

Report = list[tuple[str, list[str]]]  # (keyword, arguments) of one signature


@dataclass(frozen=True)
class Verification:
    """gpg's reports of one run, one per signature, and whether they can be trusted in order."""
    checks: list[SignatureCheck]  # one per NEWSIG, in order
    clean: bool  # no line that could have shifted or dropped a signature's report


def _judge(report: Report) -> SignatureCheck:
    seen = {keyword: args for keyword, args in reversed(report)}  # first of each keyword
    valid = seen.get("VALIDSIG")
    # VALIDSIG's 10th field is the primary key's fingerprint (the signature may be a subkey's)
    fpr = normalize_fingerprint(valid[9] if valid and len(valid) >= 10 else "")
    if "REVKEYSIG" in seen:
        return SignatureCheck(SignatureStatus.REVOKED_KEY, fpr)
    if "EXPKEYSIG" in seen:
        return SignatureCheck(SignatureStatus.EXPIRED_KEY, fpr)
    if "GOODSIG" in seen and fpr:
        return SignatureCheck(SignatureStatus.GOOD, fpr)
    if "BADSIG" in seen:
        return SignatureCheck(SignatureStatus.BAD)
    if "ERRSIG" in seen:  # no public key (or an algorithm gpg lacks): the key is unknown
        args = seen["ERRSIG"]
        issuer = args[6] if len(args) >= 7 and args[6] != "-" else (args[0] if args else "")
        return SignatureCheck(SignatureStatus.UNKNOWN_KEY, normalize_fingerprint(issuer))
    return SignatureCheck(SignatureStatus.MALFORMED)  # e.g. EXPSIG, or nothing at all


def read_verification(status: str) -> Verification:
    reports: list[Report] = []
    clean = True
    for line in status.splitlines():
        if not line.startswith(_PREFIX):
            continue
        keyword, *args = line[len(_PREFIX) :].split()
        if keyword == "NEWSIG":
            reports.append([])
        elif keyword in _TROUBLE:
            clean = False
        elif reports:
            reports[-1].append((keyword, args))
    return Verification([_judge(r) for r in reports], clean)


def read_user_ids(colons: str) -> dict[str, list[str]]:
    """Primary-key fingerprint -> user ids, from `gpg --list-keys --with-colons`."""
    uids: dict[str, list[str]] = {}
    current: list[str] | None = None
    expect_primary = False
    for line in colons.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind == "pub":
            expect_primary, current = True, None
        elif kind == "sub":
            expect_primary = False
        elif kind == "fpr" and expect_primary and len(fields) > 9:
            current = uids.setdefault(fields[9], [])
            expect_primary = False
        elif kind == "uid" and current is not None and len(fields) > 9:
            current.append(fields[9])
    return uids
