"""A positive duration as a command-line option's type, the same on every command."""

from __future__ import annotations

import argparse

from corral.duration import DurationError, parse_duration


def positive_duration(text: str) -> float:
    """argparse type: seconds in a positive duration (corral.duration's grammar)."""
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must be above 0")
    return value
