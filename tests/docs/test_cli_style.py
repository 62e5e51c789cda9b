"""One style for every command line: each option and argument of every command and
subcommand says what it is for, in words for users (no Markdown, no module names), and
every help page renders."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("flag_docs", REPO / "scripts" / "flag_docs.py")
assert _spec is not None and _spec.loader is not None
flag_docs = importlib.util.module_from_spec(_spec)
sys.modules["flag_docs"] = flag_docs
_spec.loader.exec_module(flag_docs)

# Markdown code spans, developers' wording, or a Python module path (corral.updated)
NOT_FOR_USERS = re.compile(r"`|entry point|\bcorral\.[a-z_]+")


def walk(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[tuple[list[str],
                                                                             argparse.ArgumentParser]]:
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


@pytest.mark.parametrize("command", sorted(flag_docs.PARSERS))
def test_every_option_has_help_for_users(command: str) -> None:
    problems = []
    for path, parser in walk(flag_docs.find([command]), [command]):
        problems += _problems(path, parser)
        parser.format_help()  # a stray % in a help text breaks --help
    assert problems == []


def test_the_walk_reaches_nested_subcommands() -> None:
    paths = {" ".join(p) for p, _ in walk(flag_docs.find(["corral-mirror"]), ["corral-mirror"])}
    assert "corral-mirror keys threshold" in paths
    paths = {" ".join(p) for p, _ in walk(flag_docs.find(["corralctl"]), ["corralctl"])}
    assert {"corralctl kv get", "corralctl unit list", "corralctl role layout"} <= paths
