"""The keyring checks a document's signatures in one gpg run, and each verdict still
lands on its own signature: bad, unknown, revoked, doubled or empty entries included."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mirror_docs import encode, release_doc
from mirror_setup import make_upstream

from corral.mirror.armor import is_single_signature
from corral.mirror.cli import main
from corral.mirror.fetch import DirectoryFetcher
from corral.mirror.gpg import Signer
from corral.mirror.keyring import Keyring
from corral.mirror.layout import Layout
from corral.mirror.sync import sync
from corral.trust import (
    BadSignature,
    Envelope,
    Signature,
    SignatureStatus,
    ThresholdNotMet,
    trusted_signers,
)

DATA = encode(release_doc())


@pytest.fixture
def signer(keys) -> Signer:
    return Signer(str(keys.home))


@pytest.fixture
def keyring(keys, signer) -> Iterator[Keyring]:
    """alice, bob and carol; mallory's key is not in it."""
    with Keyring(signer.public_key(k) for k in (keys.alice, keys.bob, keys.carol)) as ring:
        yield ring


def _joined(*armors: str) -> str:
    """One armored block holding the signature packets of all `armors`."""
    body = b"".join(
        base64.b64decode("".join(a.split("\n\n", 1)[1].split("\n=")[0].split()))
        for a in armors
    )
    text = base64.b64encode(body).decode()
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN PGP SIGNATURE-----\n\n{lines}\n-----END PGP SIGNATURE-----\n"


def test_every_signature_gets_its_own_verdict_in_order(keys, signer, keyring):
    armors = [signer.sign(DATA, k) for k in (keys.carol, keys.alice, keys.bob)]
    checks = keyring.check_all(DATA, armors)
    assert [(c.status, c.fingerprint) for c in checks] == [
        (SignatureStatus.GOOD, keys.carol),
        (SignatureStatus.GOOD, keys.alice),
        (SignatureStatus.GOOD, keys.bob),
    ]


def test_a_bad_signature_among_good_ones_is_named_and_the_others_still_checked(
    keys, signer, keyring
):
    # gpg stops at the first bad signature of a run: the verdicts come from single runs
    armors = [signer.sign(DATA, keys.alice), signer.sign(DATA + b" ", keys.bob),
              signer.sign(DATA, keys.carol)]
    statuses = [c.status for c in keyring.check_all(DATA, armors)]
    assert statuses == [SignatureStatus.GOOD, SignatureStatus.BAD, SignatureStatus.GOOD]
    envelope = Envelope(DATA, tuple(Signature(f"k{i}", a) for i, a in enumerate(armors)))
    with pytest.raises(BadSignature, match="does not match"):
        trusted_signers(envelope, keyring, [keys.alice, keys.carol], 2, "release")


def test_unknown_and_revoked_keys_are_reported_beside_good_ones(keys, signer):
    revocation = (keys.home / "openpgp-revocs.d" / f"{keys.bob}.rev").read_text()
    with Keyring(signer.public_key(k) for k in (keys.alice, keys.bob)) as ring:
        ring.add(revocation.replace(":-----BEGIN", "-----BEGIN"))
        armors = [signer.sign(DATA, k) for k in (keys.mallory, keys.bob, keys.alice)]
        checks = ring.check_all(DATA, armors)
    assert [c.status for c in checks] == [
        SignatureStatus.UNKNOWN_KEY, SignatureStatus.REVOKED_KEY, SignatureStatus.GOOD]
    assert checks[0].fingerprint == keys.mallory
    assert checks[2].fingerprint == keys.alice


def test_an_entry_with_two_signatures_or_none_is_malformed_and_refused(keys, signer, keyring):
    alice, bob = signer.sign(DATA, keys.alice), signer.sign(DATA, keys.bob)
    doubled = _joined(alice, bob)
    empty = "-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"
    assert is_single_signature(alice)
    assert not is_single_signature(doubled)
    assert not is_single_signature(empty)
    checks = keyring.check_all(DATA, [doubled, empty, alice])
    assert [c.status for c in checks] == [
        SignatureStatus.MALFORMED, SignatureStatus.MALFORMED, SignatureStatus.GOOD]
    envelope = Envelope(DATA, (Signature("ab", doubled), Signature("-", empty)))
    with pytest.raises(BadSignature, match="malformed"):
        trusted_signers(envelope, keyring, [keys.alice, keys.bob], 2, "release")


def test_one_key_signing_twice_still_counts_once(keys, signer, keyring):
    armors = (signer.sign(DATA, keys.alice), signer.sign(DATA, keys.alice))
    envelope = Envelope(DATA, tuple(Signature(keys.alice, a) for a in armors))
    with pytest.raises(ThresholdNotMet, match="1 trusted signature"):
        trusted_signers(envelope, keyring, [keys.alice, keys.bob], 2, "release")


def test_armor_with_crlf_or_headers_is_batched_garbage_is_not(keys, signer):
    armor = signer.sign(DATA, keys.alice)
    assert is_single_signature(armor.replace("\n", "\r\n"))
    with_header = armor.replace("-----\n\n", "-----\nComment: made by gpg\n\n", 1)
    assert is_single_signature(with_header)
    assert not is_single_signature(armor + armor)  # two blocks in one entry
    assert not is_single_signature(armor.replace("\n\n", "\n\n!!", 1))
    assert not is_single_signature("not a signature")


@pytest.fixture
def gpg_log(tmp_path, monkeypatch) -> Path:
    """Every gpg run goes through a logging shim in front of the real gpg."""
    shim_dir, log = tmp_path / "shim", tmp_path / "gpg-runs.log"
    shim_dir.mkdir()
    shim = shim_dir / "gpg"
    real = next(Path(d) / "gpg" for d in os.environ["PATH"].split(os.pathsep)
                if (Path(d) / "gpg").is_file())
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_a_first_sync_of_a_two_signature_mirror_runs_gpg_three_times(
    tmp_path, keys, gpg_log
):
    up = make_upstream(tmp_path, keys)  # root and release each signed by alice and bob
    gpg_log.unlink(missing_ok=True)  # publishing signed with the operator's gpg
    result = sync(Layout(tmp_path / "internal"), DirectoryFetcher(up.dir),
                  now=datetime.now(UTC), pinned=[keys.alice, keys.bob], threshold=2)
    assert result.updated == ["stable"]
    runs = gpg_log.read_text().splitlines()
    assert [next(a for a in r.split() if a in ("--import", "--verify")) for r in runs] == [
        "--import", "--verify", "--verify"]  # keys once; root once; release once


def test_sync_without_gpg_says_what_to_install(tmp_path, keys, monkeypatch, capsys):
    up = make_upstream(tmp_path, keys)
    empty = tmp_path / "no-gpg-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    rc = main(["sync", str(tmp_path / "internal"), str(up.dir), "--key", keys.alice,
               "--key", keys.bob, "--threshold", "2"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "gpg not found: install Debian's gnupg package" in err
    assert "Traceback" not in err
    assert not (tmp_path / "internal" / "channels").exists()
