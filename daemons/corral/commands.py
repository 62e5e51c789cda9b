"""Corral's commands and where their argument parsers are built: one table for the flag
tables in docs/, the manual pages and the shell completion files."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

# command -> "module:function" returning its ArgumentParser
PARSERS = {
    "corral-store": "corral.store.cli:parser",
    "corral-fleet": "corral.fleet.cli:build_parser",
    "corral-updated": "corral.updated.cli:build_parser",
    "corral-mirror": "corral.mirror.cli:build_parser",
    "corralctl": "corral.ctl.main:build_parser",
}


def build(command: str) -> argparse.ArgumentParser:
    module, _, function = PARSERS[command].partition(":")
    factory: Callable[[], argparse.ArgumentParser] = getattr(
        importlib.import_module(module), function
    )
    return factory()
