"""Every field of a signed document is checked for type, length and characters, and a
release's `release_id` is tied to its product, version and payload."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mirror_docs import NOW, PAYLOAD_SHA256, encode, release_doc, root_doc, sign

from corral.mirror.gpg import Signer
from corral.mirror.keyring import Keyring
from corral.trust import (
    DuplicateField,
    Envelope,
    InvalidField,
    MalformedDocument,
    ReleaseIdMismatch,
    UnknownField,
    Version,
    parse_envelope,
    parse_release,
    parse_root,
    trust_root_from_pins,
    verify_release,
)
from corral.trust.envelope import MAX_SIGNATURES
from corral.trust.root import MAX_KEY_ARMOR, MAX_KEYS
from corral.trust.version import MAX_LENGTH


def release(**changes: Any) -> None:
    doc = release_doc()
    for name, value in changes.items():
        if "." in name:
            outer, inner = name.split(".")
            doc[outer] = {**doc[outer], inner: value}
        else:
            doc[name] = value
    parse_release(Envelope(encode(doc), ()), "release")


def with_id(version: str) -> dict[str, str]:
    return {"version": version, "release_id": f"corral-os-{version}-{PAYLOAD_SHA256[:16]}"}


@pytest.mark.parametrize("changes,error,message", [
    (with_id("1.2.3\n"), InvalidField, "not a version"),
    (with_id("1" * 400_000), InvalidField, "400000 characters, at most 64"),
    (with_id("1." * 32 + "1"), InvalidField, "at most 64"),
    (with_id("\u0661.\u0662"), InvalidField, "not a version"),  # Arabic-Indic digits
    ({"serial": True}, InvalidField, "serial True is not an integer"),
    ({"serial": -1}, InvalidField, "serial -1"),
    ({"serial": 2**64}, InvalidField, "serial"),
    ({"serial": 5.0}, InvalidField, "serial 5.0"),
    ({"root_version": True}, InvalidField, "root_version True"),
    ({"payload.size": True}, InvalidField, "size True is not an integer"),
    ({"payload.size": "100"}, InvalidField, "size '100'"),
    ({"allow_downgrade": "false"}, InvalidField, "allow_downgrade 'false' is not true or false"),
    ({"allow_downgrade": 0}, InvalidField, "allow_downgrade 0"),
    ({"product": "corral/os"}, InvalidField, "product 'corral/os'"),
    ({"channel": "Stable\n"}, InvalidField, "channel"),
    ({"channel": "s" * 64}, InvalidField, "channel"),
    ({"payload.sha256": PAYLOAD_SHA256.upper()}, InvalidField, "sha256"),
    ({"payload.path": f"pool/{'0' * 64}/os.img"}, InvalidField, "not under its sha256"),
    ({"payload.path": f"pool/{PAYLOAD_SHA256}/../os.img"}, InvalidField, "path"),
    ({"payload.path": "/etc/passwd"}, InvalidField, "path"),
    ({"payload.extra": 1}, UnknownField, "payload: unknown field 'extra'"),
    ({"comment": "hi"}, UnknownField, "unknown field 'comment'"),
    ({"min_version": "1.0\n"}, InvalidField, "min_version"),
    ({"release_id": "anything"}, ReleaseIdMismatch,
     f"is not 'corral-os-1.2.3-{PAYLOAD_SHA256[:16]}'"),
    ({"version": "1.2.4"}, ReleaseIdMismatch, "release_id"),  # the id names 1.2.3
    ({"expires": "2026-01-01T00:00:00Z"}, InvalidField, "expires before it was issued"),
])
def test_bad_release_fields_are_refused(changes, error, message):
    with pytest.raises(error, match=None) as exc:
        release(**changes)
    assert message in str(exc.value)
    assert isinstance(exc.value, MalformedDocument)  # the family callers already handle


def test_a_version_of_64_characters_and_null_min_version_are_accepted():
    release(**with_id("1." * 31 + "12"), min_version=None)
    assert Version("1." * 31 + "12").text.count(".") == 31
    assert len("1." * 31 + "12") == MAX_LENGTH


def test_duplicate_names_and_nan_in_the_signed_json_are_refused():
    text = encode(release_doc()).decode()
    twice = text.replace('"serial": 5', '"serial": 5, "serial": 9')
    with pytest.raises(DuplicateField, match="'serial' twice"):
        parse_release(Envelope(twice.encode(), ()))
    nan = text.replace('"serial": 5', '"serial": NaN')
    with pytest.raises(MalformedDocument, match="NaN is not a JSON number"):
        parse_release(Envelope(nan.encode(), ()))


def test_more_signatures_than_a_root_may_have_keys_are_refused():
    body = {"signed": "{}", "signatures": [{"keyid": "", "sig": "x"}] * (MAX_SIGNATURES + 1)}
    with pytest.raises(InvalidField, match=f"at most {MAX_SIGNATURES}"):
        parse_envelope(json.dumps(body).encode(), "release")


@pytest.fixture
def signer(keys) -> Signer:
    return Signer(str(keys.home))


def test_a_signed_release_with_a_bool_serial_is_refused_by_clients(keys, signer):
    root_data = sign(signer, encode(root_doc(signer, [keys.alice], 1)), keys.alice)
    doc = release_doc()
    doc["serial"] = True
    with Keyring([signer.public_key(keys.alice)]) as ring:
        root = trust_root_from_pins(root_data, ring, [keys.alice], 1)
        with pytest.raises(InvalidField, match="serial True"):
            verify_release(sign(signer, encode(doc), keys.alice), verifier=ring, root=root,
                           product="corral-os", channel="stable", now=NOW)


def root(signer: Signer, signers: list[str], changes: dict[str, Any]) -> None:
    doc = root_doc(signer, signers, 2)
    doc.update(changes)
    parse_root(Envelope(json.dumps(doc).encode(), ()))


def test_bad_root_fields_are_refused(keys, signer):
    armor = signer.public_key(keys.alice)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"version": True}, InvalidField, "version True"),
        ({"threshold": True}, InvalidField, "threshold True"),
        ({"threshold": 3}, InvalidField, "threshold 3 is not an integer from 1 to 2"),
        ({"keys": {"not-hex": armor}}, InvalidField, "not a fingerprint"),
        ({"keys": {keys.alice: armor, keys.alice.lower(): armor}}, InvalidField,
         "listed twice"),
        ({"keys": {keys.alice: "just text"}}, InvalidField, "not an armored public key"),
        ({"keys": {keys.alice: armor + " " * MAX_KEY_ARMOR}, "threshold": 1}, InvalidField,
         f"at most {MAX_KEY_ARMOR} characters"),
        ({"keys": {f"{i:040X}": armor for i in range(MAX_KEYS + 1)}, "threshold": 1},
         InvalidField, f"expected 1 to {MAX_KEYS}"),
        ({"product": "a b"}, InvalidField, "product 'a b'"),
        ({"note": 1}, UnknownField, "unknown field 'note'"),
    ]
    for changes, error, message in cases:
        with pytest.raises(error) as exc:
            root(signer, [keys.alice, keys.bob], changes)
        assert message in str(exc.value), changes
