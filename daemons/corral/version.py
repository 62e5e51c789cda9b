"""`--version` for every command: the program, Corral's version and the Python it runs on."""

from __future__ import annotations

import argparse
import sys

from corral import __version__


def describe(prog: str) -> str:
    """`corral-store 0.1.0 (Python 3.11.2)`: what `--version` prints and daemons log at start."""
    return f"{prog} {__version__} (Python {sys.version.split()[0]})"


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", action="version", version=describe(parser.prog),
        help="print the version and exit",
    )
