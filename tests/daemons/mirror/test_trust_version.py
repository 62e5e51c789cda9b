"""Version ordering: numeric, pre-releases before releases, nonsense refused."""

from __future__ import annotations

import pytest

from corral.trust import Version


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("1.9.2", "1.10.0"), ("1.2.0-rc1", "1.2.0"), ("1.2.0-rc1", "1.2.0-rc2"), ("1", "1.0.1"),
     ("0.9", "1.0")],
)
def test_order(lower, higher):
    assert Version(lower) < Version(higher)
    assert not Version(higher) < Version(lower)


def test_trailing_zeros_do_not_matter():
    assert Version("1.2") == Version("1.2.0")


@pytest.mark.parametrize("text", ["", "v1.2", "1..2", "1.2-", "latest", "1.2 "])
def test_not_a_version(text):
    with pytest.raises(ValueError, match="not a version"):
        Version(text)
