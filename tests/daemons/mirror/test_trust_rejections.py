"""The trust library refuses each of the eight attacks with its own error (real gpg keys)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from mirror_docs import NOW, PAYLOAD, PAYLOAD_BYTES, encode, release_doc, root_doc, sign

from corral.mirror.gpg import Signer
from corral.mirror.keyring import Keyring
from corral.trust import (
    BadSignature,
    DowngradeRefused,
    ExpiredDocument,
    MalformedDocument,
    MixAndMatch,
    PayloadCheck,
    PayloadHashMismatch,
    PayloadTooLarge,
    RollbackAttack,
    Root,
    Seen,
    ThresholdNotMet,
    Version,
    check_payload,
    parse_envelope,
    trust_root_from_pins,
    update_root,
    verify_release,
)


@pytest.fixture
def signer(keys) -> Signer:
    return Signer(str(keys.home))


@pytest.fixture
def keyring(keys, signer) -> Iterator[Keyring]:
    with Keyring(
        signer.public_key(k) for k in (keys.alice, keys.bob, keys.carol, keys.mallory)
    ) as ring:
        yield ring


@pytest.fixture
def root(keys, signer, keyring) -> Root:
    """alice and bob trusted, two signatures needed."""
    data = sign(signer, encode(root_doc(signer, [keys.alice, keys.bob], 2)), keys.alice, keys.bob)
    return trust_root_from_pins(data, keyring, [keys.alice, keys.bob], 2)


def verify(data: bytes, keyring: Keyring, root: Root, **kw):
    kw.setdefault("now", NOW)
    return verify_release(
        data, verifier=keyring, root=root, product="corral-os", channel="stable", **kw
    )


def test_good_release_is_accepted(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc()), keys.alice, keys.bob)
    release = verify(data, keyring, root)
    assert (release.version, release.serial) == (Version("1.2.3"), 5)
    assert release.payload == PAYLOAD
    check_payload(release.payload, PAYLOAD_BYTES)


# 1. missing, malformed or bad signature
def test_document_changed_after_signing_is_a_bad_signature(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc()), keys.alice, keys.bob)
    body = json.loads(data)
    body["signed"] = body["signed"].replace('"1.2.3"', '"9.9.9"')
    with pytest.raises(BadSignature, match="does not match the document"):
        verify(json.dumps(body).encode(), keyring, root)


def test_unsigned_document_is_a_bad_signature(keys, signer, keyring, root):
    with pytest.raises(BadSignature, match="no signature"):
        verify(sign(signer, encode(release_doc())), keyring, root)


def test_garbage_signature_is_a_bad_signature(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc()), keys.alice)
    body = json.loads(data)
    body["signatures"].append({"keyid": keys.bob, "sig": "-----BEGIN PGP SIGNATURE-----\nxx"})
    with pytest.raises(BadSignature, match="malformed"):
        verify(json.dumps(body).encode(), keyring, root)


# 2. too few trusted signers; unknown and revoked keys do not count
def test_signature_by_unpinned_key_does_not_count(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc()), keys.alice, keys.mallory)
    with pytest.raises(ThresholdNotMet, match=r"1 trusted signature.*threshold is 2"):
        verify(data, keyring, root)


def test_signature_by_key_missing_from_the_keyring_does_not_count(keys, signer, root):
    data = sign(signer, encode(release_doc()), keys.alice, keys.bob, keys.mallory)
    with (
        Keyring([signer.public_key(keys.alice)]) as alice_only,
        pytest.raises(ThresholdNotMet, match="unknown key"),
    ):
        verify(data, alice_only, root)


def test_threshold_zero_is_a_configuration_error_not_a_pass(keys, signer, keyring):
    data = sign(signer, encode(root_doc(signer, [keys.alice], 1)), keys.mallory)
    with pytest.raises(ValueError, match="threshold 0"):
        trust_root_from_pins(data, keyring, [keys.alice], 0)


def test_same_key_twice_counts_once(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc()), keys.alice, keys.alice)
    with pytest.raises(ThresholdNotMet):
        verify(data, keyring, root)


def test_signature_by_revoked_key_does_not_count(keys, signer, keyring, root):
    revocation = (keys.home / "openpgp-revocs.d" / f"{keys.bob}.rev").read_text()
    keyring.add(revocation.replace(":-----BEGIN", "-----BEGIN"))
    data = sign(signer, encode(release_doc()), keys.alice, keys.bob)
    with pytest.raises(ThresholdNotMet, match="revoked key"):
        verify(data, keyring, root)


# 3. expired document (freeze attack), with a clock-skew allowance
def test_expired_document_is_refused(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc(expires=NOW - timedelta(hours=1))), keys.alice, keys.bob)
    with pytest.raises(ExpiredDocument, match="expired at"):
        verify(data, keyring, root)
    # within the skew allowance it is still good
    verify(data, keyring, root, skew=timedelta(hours=2))


def test_expired_root_is_refused_even_for_a_fresh_release(keys, signer, keyring):
    # a frozen root would keep a revoked key trusted: the root expires too (as TUF's)
    doc = root_doc(signer, [keys.alice, keys.bob], 2, expires=NOW - timedelta(hours=1))
    old = trust_root_from_pins(
        sign(signer, encode(doc), keys.alice, keys.bob), keyring, [keys.alice, keys.bob], 2)
    data = sign(signer, encode(release_doc()), keys.alice, keys.bob)
    with pytest.raises(ExpiredDocument, match="root version 1 expired at"):
        verify(data, keyring, old)
    verify(data, keyring, old, skew=timedelta(hours=2))  # the skew allowance applies


def test_root_without_expiry_is_malformed(keys, signer, keyring):
    doc = root_doc(signer, [keys.alice], 1)
    del doc["expires"]
    with pytest.raises(MalformedDocument, match="expires"):
        trust_root_from_pins(sign(signer, encode(doc), keys.alice), keyring, [keys.alice], 1)


# 4. rollback: lower serial, or same serial with other content
def test_lower_serial_is_a_rollback(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc(serial=4)), keys.alice, keys.bob)
    with pytest.raises(RollbackAttack, match="serial 4 is lower than 5"):
        verify(data, keyring, root, seen=Seen(5, "x" * 64))


def test_same_serial_other_content_is_a_rollback(keys, signer, keyring, root):
    first = verify(sign(signer, encode(release_doc()), keys.alice, keys.bob), keyring, root)
    other = sign(signer, encode(release_doc(version="1.2.4")), keys.alice, keys.bob)
    with pytest.raises(RollbackAttack, match="different content"):
        verify(other, keyring, root, seen=Seen(first.serial, first.digest))
    # the very same document again is fine
    verify(first.envelope.to_bytes(), keyring, root, seen=Seen(first.serial, first.digest))


def test_root_version_cannot_go_back_and_needs_the_old_keys(keys, signer, keyring, root):
    # version 2 with carol alone, signed only by carol: the old keys did not agree
    doc = root_doc(signer, [keys.carol], 1, version=2)
    with pytest.raises(ThresholdNotMet, match="old keys"):
        update_root(root, sign(signer, encode(doc), keys.carol), keyring)
    # signed by alice and bob (old threshold) and carol (new): accepted
    new = update_root(root, sign(signer, encode(doc), keys.alice, keys.bob, keys.carol), keyring)
    assert new.fingerprints == {keys.carol}
    with pytest.raises(RollbackAttack):
        update_root(new, root.envelope.to_bytes(), keyring)


# 5. downgrade unless the channel allows it
def test_lower_version_than_installed_is_refused(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc(version="1.2.3")), keys.alice, keys.bob)
    with pytest.raises(DowngradeRefused, match=r"lower than installed 1\.10\.0"):
        verify(data, keyring, root, installed=Version("1.10.0"))
    allowed = release_doc(version="1.2.3", allow_downgrade=True)
    verify(sign(signer, encode(allowed), keys.alice, keys.bob), keyring, root,
           installed=Version("1.10.0"))


# 6. endless data: reading stops at the declared size
def test_payload_larger_than_declared_is_cut_off():
    check = PayloadCheck(PAYLOAD)
    check.feed(PAYLOAD_BYTES)
    assert check.remaining == 0
    with pytest.raises(PayloadTooLarge, match=f"declared {PAYLOAD.size} bytes"):
        check.feed(b"x")


# 7. wrong hash
def test_payload_with_wrong_hash_is_refused():
    tampered = PAYLOAD_BYTES[:-1] + b"?"
    with pytest.raises(PayloadHashMismatch, match="sha256"):
        check_payload(PAYLOAD, tampered)
    with pytest.raises(PayloadHashMismatch, match="bytes, declared"):
        check_payload(PAYLOAD, PAYLOAD_BYTES[:-1])


# 8. mix-and-match: another channel or product
def test_release_of_another_channel_is_refused(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc(channel="beta")), keys.alice, keys.bob)
    with pytest.raises(MixAndMatch, match=r"channel 'beta'.*expected.*'stable'"):
        verify(data, keyring, root)


def test_release_of_another_product_is_refused(keys, signer, keyring, root):
    data = sign(signer, encode(release_doc(product="other-os")), keys.alice, keys.bob)
    with pytest.raises(MixAndMatch, match="product 'other-os'"):
        verify(data, keyring, root)


def test_envelope_keeps_signed_bytes_exactly(keys, signer):
    data = sign(signer, encode(release_doc()), keys.alice)
    assert parse_envelope(data, "x").signed == encode(release_doc())
