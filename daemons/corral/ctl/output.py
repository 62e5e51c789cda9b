"""`-o FORMAT` of corralctl: given before the group (`corralctl -o json unit list`) or
after the command (`corralctl unit list -o json`); the later one wins.

Every `-o` stores into `output`; the commands' own flags default to nothing, so that they
never undo a global one. Each command declares the formats it prints (`set_output`);
`resolve` then fills in its default, or refuses a format it does not print.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

TABLE = "table"
JSON = "json"
LISTING = (TABLE, JSON)
LISTING_HELP = "table (default) or json: one JSON document, its field names stable"


def add_output(
    parser: argparse.ArgumentParser,
    formats: Sequence[str] | None = LISTING,
    default: str = TABLE,
    help: str = LISTING_HELP,
) -> None:
    """`-o` on a command; `formats` None accepts any word (kv reports unknown ones as
    etcdctl does)."""
    parser.add_argument(
        "-o", "--output", default=argparse.SUPPRESS, metavar="FORMAT", help=help
    )
    parser.set_defaults(output_formats=formats, output_default=default)


def add_global_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", default=None, metavar="FORMAT",
        help="output of listing and status commands: table (default) or json; of kv's"
        " commands: simple (default), extended or json",
    )
    parser.set_defaults(output_formats=(), output_default=None)


def resolve(args: argparse.Namespace, command: str) -> str | None:
    """Settle `args.output`; an error message when the command does not print it."""
    if args.output is None:
        args.output = args.output_default
        return None
    formats = args.output_formats
    if formats is None or args.output in formats:
        return None
    if not formats:
        return f"-o {args.output}: {command} has no output formats"
    return f"-o {args.output}: {command} prints {' or '.join(formats)}"


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
