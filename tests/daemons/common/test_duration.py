"""The one duration grammar of every flag, module option and unit file: systemd.time(7)'s
time spans, with the man page's own examples, and a clear refusal naming the units."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from corral.commands import PARSERS, build
from corral.duration import HELP, MAX_US, DurationError, parse_duration

DAY = 86400
MONTH = 2629800  # systemd's: 30.44 days
YEAR = 31557600  # systemd's: 365.25 days


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # what operators write on the command line
        ("90s", 90), ("5min", 300), ("1h30m", 5400), ("1d", DAY), ("2w", 14 * DAY),
        ("500ms", 0.5), ("10", 10), ("0.5", 0.5), ("30d", 30 * DAY), ("90m", 5400),
        # systemd.time(7)'s examples
        ("2 h", 7200), ("2hours", 7200), ("48hr", 48 * 3600), ("1y 12month", YEAR + 12 * MONTH),
        ("55s500ms", 55.5), ("300ms20s 5day", 5 * DAY + 20.3),
        # every unit and its long names; fractions; blanks around and between
        ("1us", 1e-6), ("1usec", 1e-6), ("1\u00b5s", 1e-6), ("1msec", 0.001), ("1sec", 1),
        ("1second", 1), ("2seconds", 2), ("1minute", 60), ("2minutes", 120), ("1hour", 3600),
        ("1day", DAY), ("3days", 3 * DAY), ("1week", 7 * DAY), ("1M", MONTH), ("1months", MONTH),
        ("1y", YEAR), ("2years", 2 * YEAR), ("1.5h", 5400), (".5s", 0.5), (" 1h 30min ", 5400),
        ("1min 30s", 90), ("1s5", 6), ("0", 0),
    ],
)  # fmt: skip
def test_systemd_time_spans(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "  ", "soon", "5x", "5 fortnights", "1mo", "-5", "+5", "3.", "12.34.56", "1h-5m",
     "\u0663s", "infinity", "1 infinity", "5s,3m"],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_units(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "us, ms, s, min or m, h, d, w, M (month), y (year)" in message
    assert "a bare number is seconds" in message


def test_infinity_only_where_the_caller_allows_it() -> None:
    assert parse_duration("infinity", infinity=True) == float("inf")
    assert parse_duration(" 5min ", infinity=True) == 300


def test_past_systemds_limit_is_out_of_range() -> None:
    # USEC_INFINITY in systemd: 2**64-1 us, about 584,542 years
    assert parse_duration("584000y") == pytest.approx(584000 * YEAR)
    for text in ("585000y", f"{MAX_US}us", "9" * 30, "9" * 5000):
        with pytest.raises(DurationError, match="out of range"):
            parse_duration(text)


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


# every flag that takes a duration (the old parsers' and bare seconds' alike)
DURATION_FLAGS = {
    "--agent-ttl", "--alive-ttl", "--document-deadline", "--drain-timeout",
    "--etcd-max-staleness", "--etcd-request-timeout", "--expires", "--header-timeout",
    "--health-timeout",
    "--interval", "--keepalive-timeout", "--rate-grace", "--skew", "--tick", "--timeout",
}  # fmt: skip


def test_every_duration_flag_names_the_grammar_in_its_help() -> None:
    seen: set[tuple[str, str]] = set()
    for command in PARSERS:
        for path, action in _actions(build(command), command):
            flag = action.option_strings[-1] if action.option_strings else ""
            if flag in DURATION_FLAGS or action.metavar == "DURATION":
                assert action.metavar == "DURATION", (path, flag)
                assert HELP in (action.help or ""), (path, flag)
                seen.add((path, flag))
    assert {flag for _, flag in seen} >= DURATION_FLAGS
    # corralctl kv's --ttl stays etcdctl's whole seconds; the reboot lock's is a duration
    assert ("corralctl lock lock", "--ttl") in seen
