"""`--log-level` and `--log-format`, the same on every daemon, without importing
`logging`: corral-mirror builds its parser on every run, and its start-up is timed
against curl (only `serve` logs)."""

from __future__ import annotations

import argparse

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
# what --log-level accepts: every name Python's logging knows, as daemons configured
# with logging.basicConfig accepted before (logging.getLevelNamesMapping(); a test
# checks the two agree)
ACCEPTED_LEVELS = ("critical", "fatal", "error", "warn", "warning", "info", "debug", "notset")


def add_arguments(parser: argparse.ArgumentParser, default_level: str = "info") -> None:
    """Adds `--log-level` and `--log-format` to a daemon's parser."""
    parser.add_argument(
        "--log-level", default=default_level, type=str.lower, choices=ACCEPTED_LEVELS,
        metavar="LEVEL",
        help=f"least severe messages logged: {', '.join(LEVELS)} (default {default_level})",
    )
    parser.add_argument(
        "--log-format", default="text", choices=FORMATS,
        help="text (journald priorities under systemd, else timestamped) or json lines",
    )
