"""The daemons' systemd units and environment-file samples, as package data: what
`--print-unit` and `--print-env` print for an installation without Ansible, and what
the Ansible roles install (their templates are generated from these files by
scripts/role_units.py, which a test runs with --check). Imports nothing heavy:
corral-mirror builds its parser on every run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

# where ExecStart= finds the commands in the files: pip's place outside a venv
DEFAULT_BINDIR = "/usr/local/bin"


def text(name: str) -> str:
    """One file of this package, e.g. `corral-fleet.service`."""
    from importlib.resources import files

    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def for_installation(unit: str, bindir: str) -> str:
    """`unit` with ExecStart= naming the command in `bindir` (a venv's bin, say)."""
    prefix = f"ExecStart={DEFAULT_BINDIR}/"
    return "".join(f"ExecStart={bindir.rstrip('/')}/{line.removeprefix(prefix)}"
                   if line.startswith(prefix) else line
                   for line in unit.splitlines(keepends=True))  # fmt: skip


class _Print(argparse.Action):
    """Prints one file and exits, like --version (the other arguments are not needed)."""

    def __init__(self, option_strings: Sequence[str], dest: str, name: str = "",
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.name = name

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:  # fmt: skip
        content = text(self.name)
        if self.name.endswith(".service"):
            import sysconfig

            content = for_installation(content, sysconfig.get_path("scripts"))
        sys.stdout.write(content)
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser, daemon: str) -> None:
    """`--print-unit` and `--print-env` for `daemon` (e.g. corral-fleet)."""
    parser.add_argument(
        "--print-unit", action=_Print, name=f"{daemon}.service",
        help=f"print {daemon}.service, the systemd unit (ExecStart naming this"
        " installation's command), and exit",
    )  # fmt: skip
    parser.add_argument(
        "--print-env", action=_Print, name=f"{daemon}.env",
        help="print a sample of the environment file the unit reads (/etc/corral/), and exit",
    )  # fmt: skip
