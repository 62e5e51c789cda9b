"""One style for every command line: each option and argument of every command and
subcommand says what it is for, in words for users (no Markdown, no module names), and
every help page renders."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from corral.commands import PARSERS, build

# Markdown code spans, developers' wording, or a Python module path (corral.updated)
NOT_FOR_USERS = re.compile(r"`|entry point|\bcorral\.[a-z_]+")


Parsers = Iterator[tuple[list[str], argparse.ArgumentParser]]


def walk(parser: argparse.ArgumentParser, path: list[str]) -> Parsers:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, [*path, name])


def _problems(path: list[str], parser: argparse.ArgumentParser) -> Iterator[str]:
    where = " ".join(path)
    if parser.description and NOT_FOR_USERS.search(parser.description):
        yield f"{where}: description {parser.description[:60]!r}"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        texts = [action.help]
        if isinstance(action, argparse._SubParsersAction):
            texts = [a.help for a in action._choices_actions]
        name = "/".join(action.option_strings) or action.dest
        for text in texts:
            if not text:
                yield f"{where} {name}: no help"
            elif NOT_FOR_USERS.search(text):
                yield f"{where} {name}: {text!r}"


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_option_has_help_for_users(command: str) -> None:
    problems = []
    for path, parser in walk(build(command), [command]):
        problems += _problems(path, parser)
        parser.format_help()  # a stray % in a help text breaks --help
    assert problems == []


def test_the_walk_reaches_nested_subcommands() -> None:
    paths = {" ".join(p) for p, _ in walk(build("corral-mirror"), ["corral-mirror"])}
    assert "corral-mirror keys threshold" in paths
    paths = {" ".join(p) for p, _ in walk(build("corralctl"), ["corralctl"])}
    assert {"corralctl kv get", "corralctl unit list", "corralctl role layout"} <= paths
