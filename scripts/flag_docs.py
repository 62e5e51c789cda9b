#!/usr/bin/env python3
"""Write the flag tables in docs/ from the daemons' own argument parsers.

A table stands between `<!-- flags: COMMAND [SUBCOMMAND...] -->` and `<!-- end flags -->`
in a Markdown file; this script renders that command's parser there, so the docs
cannot drift from `--help`. `--check` writes nothing and exits 1 when a table differs
from what the parsers say (the test suite runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from corral.commands import build

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

BLOCK = re.compile(
    r"(<!-- flags: (?P<command>[^>]+?) -->\n)(?P<body>.*?)(<!-- end flags -->)", re.DOTALL
)


def _parser(command: str) -> argparse.ArgumentParser:
    return build(command)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def find(path: list[str]) -> argparse.ArgumentParser:
    """The parser of `corral-mirror sync` for ["corral-mirror", "sync"]."""
    parser = _parser(path[0])
    for name in path[1:]:
        sub = _subparsers(parser)
        if sub is None or name not in sub.choices:
            raise SystemExit(f"flag_docs: no command {' '.join(path)!r}")
        parser = sub.choices[name]
    return parser


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is None or value is False or value == argparse.SUPPRESS or value == []:
        return ""
    if isinstance(action, argparse._StoreTrueAction):
        return ""
    if isinstance(value, str | int | float | Path):
        return f"`{value}`" if str(value) else ""
    return ""


def render(parser: argparse.ArgumentParser) -> str:
    """A Markdown table of a parser's arguments, then of its subcommands if any."""
    rows = ["| flag | default | what |", "| --- | --- | --- |"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (action.dest.upper())
                if action.choices and not action.metavar:  # an explicit metavar wins
                    metavar = "|".join(str(c) for c in action.choices)
                names += f" {_cell(str(metavar))}"
        else:
            names = f"`{action.metavar or action.dest}` (argument)"
        rows.append(f"| {names} | {_default(action)} | {_cell(action.help or '')} |")
    if len(rows) == 2:  # no flags of its own
        rows = []
    sub = _subparsers(parser)
    if sub is not None:
        helps = {a.dest: a.help or "" for a in sub._choices_actions}
        rows += ([""] if rows else []) + ["| command | what |", "| --- | --- |"]
        rows += [f"| `{name}` | {_cell(helps.get(name, ''))} |" for name in sub.choices]
    return "\n".join(rows) + "\n"


def rewrite(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        table = render(find(match.group("command").split()))
        return match.group(1) + table + match.group(4)

    return BLOCK.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = parser.parse_args(argv)
    # defaults read from the environment would make the tables depend on the shell
    for name in [n for n in os.environ if n.startswith("CORRAL_")]:
        del os.environ[name]
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(
            "flag tables out of date: " + ", ".join(map(str, stale))
            + " (run scripts/flag_docs.py)", file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
