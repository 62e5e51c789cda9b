#!/usr/bin/env python3
"""Write a manual page for every Corral command into a directory (not kept in git: the
store role generates them on each host from the installed venv, as this does).

    scripts/man_pages.py DIR        # then: man -l DIR/corralctl.1
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemons"))

from corral.manpages import main  # after the path above

if __name__ == "__main__":
    sys.exit(main())
