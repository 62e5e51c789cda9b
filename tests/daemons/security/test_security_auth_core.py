"""The pure auth core (corral.store.auth): pattern rules, the root and guest roles,
password hashes, and the persisted form, with plain function calls."""

from __future__ import annotations

import pytest

from corral.store.auth import (
    AuthError,
    AuthState,
    Permissions,
    User,
    check_password,
    hash_password,
)


def fast_hash(password: str) -> str:
    return "plain:" + password  # the state does not care how a hash is made


def state_with(*roles: tuple[str, list[str], list[str]]) -> AuthState:
    s = AuthState()
    s, _, _ = s.put_user("root", "pw", None, [], [], fast_hash)
    for name, read, write in roles:
        s, _, _ = s.put_role(name, Permissions(tuple(read), tuple(write)), Permissions(),
                             Permissions())  # fmt: skip
    return s.enable()


def test_patterns_match_exactly_or_as_a_prefix_ending_in_star() -> None:
    p = Permissions(("/app/*", "/exact"), ("/app/*",))
    assert p.allows("/app/x", write=False, recursive=False)
    assert p.allows("/app/", write=True, recursive=False)
    assert not p.allows("/app", write=False, recursive=False)  # "/app/*" is not "/app"
    assert p.allows("/exact", write=False, recursive=False)
    assert not p.allows("/exact/below", write=False, recursive=False)
    assert not p.allows("/exact", write=False, recursive=True)  # recursive needs a star
    assert not p.allows("/exact", write=True, recursive=False)


def test_root_does_everything_and_guest_has_what_it_was_given() -> None:
    s = state_with(("reader", ["/r/*"], []))
    root = s.user("root")
    assert s.is_root(root) and s.may(root, "/anything", True, True)
    assert s.may(None, "/x", True, False)  # etcd's default guest: read and write /*
    s, _, _ = s.put_role("guest", Permissions(), Permissions(), Permissions(("/*",), ("/*",)))
    assert not s.may(None, "/x", False, False)
    s, alice, _ = s.put_user("alice", "pw", ["reader"], [], [], fast_hash)
    assert s.may(alice, "/r/1", False, False) and not s.may(alice, "/r/1", True, False)


def test_etcd_refusals() -> None:
    s = state_with()
    with pytest.raises(AuthError) as e:
        s.delete_user("root")
    assert (e.value.status, e.value.message) == (
        403, "auth: Cannot delete root user while auth is enabled."
    )  # fmt: skip
    with pytest.raises(AuthError) as e:
        s.put_role("root", Permissions(), Permissions(), Permissions())
    assert e.value.status == 403
    with pytest.raises(AuthError) as e:
        s.enable()
    assert (e.value.status, e.value.message) == (409, "auth: already enabled")
    with pytest.raises(AuthError) as e:
        AuthState().enable()
    assert e.value.message == "auth: No root user available, please create one"
    with pytest.raises(AuthError) as e:
        s.put_user("bob", "", None, [], [], fast_hash)
    assert e.value.status == 400


def test_password_hashes_are_salted_and_checked() -> None:
    a, b = hash_password("secret"), hash_password("secret")
    assert a != b and "secret" not in a and a.startswith("scrypt$")
    assert check_password(a, "secret") and not check_password(a, "Secret")
    assert not check_password("garbage", "secret")


def test_the_persisted_form_round_trips_without_clear_passwords() -> None:
    s = state_with(("reader", ["/r/*"], []))
    s, _, _ = s.put_user("alice", "pw-in-clear", ["reader"], [], [], fast_hash)
    text = s.dump()
    back = AuthState.load(text)
    assert back == s
    assert back.user("alice") == User("alice", "plain:pw-in-clear", ("reader",))
    real = AuthState().put_user("bob", "pw-in-clear", None, [], [])[0]
    assert "pw-in-clear" not in real.dump()
