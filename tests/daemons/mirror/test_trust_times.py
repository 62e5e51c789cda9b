"""Document times have one spelling: anything else is a malformed document."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.trust import MalformedDocument, format_time
from corral.trust.times import parse_time


def test_a_formatted_time_reads_back_to_the_second():
    moment = datetime(2026, 2, 28, 23, 59, 7, 999, tzinfo=UTC)
    assert parse_time(format_time(moment), "expires") == moment.replace(microsecond=0)


@pytest.mark.parametrize("text", [
    "2026-2-28T23:59:07Z",  # unpadded month
    "2026-02-30T00:00:00Z",  # no such day
    "2026-02-28T24:00:00Z",
    "2026-02-28T23:59:07",  # no zone
    "2026-02-28T23:59:07+00:00",
    " 2026-02-28T23:59:07Z",
    "2026-02-28T23:59:07Z\n",
    "\u0662\u0660\u0662\u0666-02-28T23:59:07Z",  # digits, but not ASCII ones
    12345,
])
def test_any_other_spelling_is_malformed(text):
    with pytest.raises(MalformedDocument, match="expires"):
        parse_time(text, "expires")
