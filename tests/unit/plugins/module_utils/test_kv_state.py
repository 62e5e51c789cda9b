"""The kv module's pure planning: what changes, what is left alone, what is refused."""

from __future__ import annotations

import pytest
from ansible_collections.corral.cloud.plugins.module_utils.kv_state import (
    KeyState,
    KeyWanted,
    plan_key,
)
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused

HELLO = KeyState("/a", value="hello", index=7)


def test_a_missing_key_is_planned_with_its_value():
    after = plan_key(None, KeyWanted("/a", value="hello"))
    assert after == KeyState("/a", value="hello")
    expiring = plan_key(None, KeyWanted("/a", value="hello", ttl=30))
    assert expiring is not None and expiring.as_dict()["ttl"] == 30


def test_a_key_already_holding_the_value_is_left_alone():
    assert plan_key(HELLO, KeyWanted("/a", value="hello")) is HELLO


def test_a_different_value_is_a_change():
    after = plan_key(HELLO, KeyWanted("/a", value="bye"))
    assert after is not HELLO and after is not None and after.value == "bye"


def test_ttl_is_a_change_only_when_the_key_does_not_expire_yet():
    expiring = KeyState("/a", value="hello", expires=True, ttl=30)
    assert plan_key(expiring, KeyWanted("/a", value="hello", ttl=60)) is expiring
    assert plan_key(HELLO, KeyWanted("/a", value="hello", ttl=60)) is not HELLO
    # no ttl asked: an expiring key is made permanent
    assert plan_key(expiring, KeyWanted("/a", value="hello")) is not expiring


def test_compare_failures_are_refused_naming_the_key():
    with pytest.raises(Refused, match=r"/a has value 'hello', not prev_value 'x'"):
        plan_key(HELLO, KeyWanted("/a", value="bye", prev_value="x"))
    with pytest.raises(Refused, match=r"modified at index 7, not prev_index 3"):
        plan_key(HELLO, KeyWanted("/a", value="bye", prev_index=3))
    with pytest.raises(Refused, match=r"/a does not exist"):
        plan_key(None, KeyWanted("/a", value="bye", prev_value="hello"))


def test_a_compare_that_holds_allows_the_change():
    after = plan_key(HELLO, KeyWanted("/a", value="bye", prev_value="hello", prev_index=7))
    assert after is not None and after.value == "bye"


def test_a_key_already_in_the_wanted_state_ignores_a_stale_compare():
    # The second run of a compare-and-swap play is not a failure.
    assert plan_key(HELLO, KeyWanted("/a", value="hello", prev_value="old")) is HELLO


def test_absent_deletes_without_needing_a_value_and_ignores_missing_keys():
    assert plan_key(HELLO, KeyWanted("/a", present=False)) is None
    assert plan_key(None, KeyWanted("/a", present=False)) is None


def test_a_non_empty_directory_needs_recursive_to_be_deleted():
    full = KeyState("/d", dir=True, content={"x": "1"})
    with pytest.raises(Refused, match="not empty: set recursive=true"):
        plan_key(full, KeyWanted("/d", present=False))
    assert plan_key(full, KeyWanted("/d", present=False, recursive=True)) is None
    assert plan_key(KeyState("/d", dir=True), KeyWanted("/d", present=False)) is None


def test_a_value_and_a_directory_do_not_replace_each_other():
    with pytest.raises(Refused, match="holds a value, not a directory"):
        plan_key(HELLO, KeyWanted("/a", dir=True))
    with pytest.raises(Refused, match="is a directory, not a value"):
        plan_key(KeyState("/a", dir=True), KeyWanted("/a", value="x"))


def test_an_existing_directory_is_left_alone_and_keeps_its_content():
    d = KeyState("/d", dir=True, content={"x": "1"}, index=4)
    assert plan_key(d, KeyWanted("/d", dir=True)) is d
    after = plan_key(d, KeyWanted("/d", dir=True, ttl=10))
    assert after is not None and after.expires and after.content == {"x": "1"}


def test_render_shows_values_and_directory_content():
    assert HELLO.render() == "hello\n"
    assert KeyState("/a", value="v", expires=True).render() == "v\n(expires)\n"
    assert KeyState("/a", value="two\nlines\n").render() == "two\nlines\n"
    assert '"x": "1"' in KeyState("/d", dir=True, content={"x": "1"}).render()
