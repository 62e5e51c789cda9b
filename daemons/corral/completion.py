"""Shell completion of every Corral command, by argcomplete.

argcomplete is imported only when a shell asks for completions ($_ARGCOMPLETE set):
importing it costs start-up time that every other run of a daemon or corralctl would pay.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

COMPLETING_ENV = "_ARGCOMPLETE"


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request and exit; return at once otherwise."""
    if COMPLETING_ENV not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """`parser.parse_args(argv)`, once a shell's completion request, if any, is answered."""
    autocomplete(parser)
    return parser.parse_args(argv)
