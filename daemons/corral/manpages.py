"""Write a manual page for every Corral command (`corral-store.1`, ...), rendered from
the command's own argument parser by argparse-manpage, so `man corralctl` says what
`corralctl --help` says.

    python -m corral.manpages DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from corral import __version__
from corral.commands import PARSERS, build

SECTION = "1"  # user commands
MANUAL = "Corral Manual"


def manpage(command: str) -> str:
    """The roff source of `command`'s manual page."""
    from argparse_manpage.manpage import Manpage  # only here: no daemon needs it to run

    parser = build(command)
    page = Manpage(parser)
    page.description = (parser.description or "").split("\n")[0].rstrip(".")
    page.date = ""  # the version tells: a date would make every install rewrite the page
    page.source = f"corral {__version__}"
    page.manual = MANUAL
    return str(page)


def write_all(directory: Path) -> list[Path]:
    """Write every command's page into `directory`; only files whose text changed are
    rewritten, so that installing twice changes nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for command in sorted(PARSERS):
        path = directory / f"{command}.{SECTION}"
        text = manpage(command)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m corral.manpages",
        description="Write a manual page for every Corral command into a directory.",
    )
    parser.add_argument("directory", type=Path, help="where to write COMMAND.1 files")
    args = parser.parse_args(argv)
    # defaults read from the environment would make the pages depend on the shell
    for name in [n for n in os.environ if n.startswith(("CORRAL_", "ETCDCTL_"))]:
        del os.environ[name]
    for path in write_all(args.directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
