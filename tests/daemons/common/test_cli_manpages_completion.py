"""Manual pages and shell completion, generated from the commands' own parsers: a page
per command that man renders without a warning, and bash completion over argcomplete's
protocol (the words on fd 8), which costs nothing when no shell asks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corral.commands import PARSERS

REPO = Path(__file__).resolve().parents[3]


def test_a_man_page_per_command_renders_cleanly(tmp_path: Path) -> None:
    if shutil.which("groff") is None:
        pytest.fail("groff not installed (Debian: groff-base)")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "man_pages.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c}.1" for c in PARSERS)
    for command in PARSERS:
        page = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(tmp_path / f"{command}.1")],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert page.returncode == 0 and page.stderr == "", (command, page.stderr)
        text = re.sub(".\b", "", page.stdout)  # grotty's overstrike for bold
        assert "NAME" in text and "SYNOPSIS" in text and "OPTIONS" in text
    ctl = (tmp_path / "corralctl.1").read_text()
    assert "--endpoints" in ctl.replace("\\-", "-")  # every option, from the parser
    again = subprocess.run([sys.executable, str(REPO / "scripts" / "man_pages.py"),
                            str(tmp_path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.stdout == ""  # nothing rewritten: a second install changes nothing


def _complete(line: str) -> list[str]:
    """What bash would offer at the end of `line`: argcomplete writes it to fd 8."""
    env = dict(os.environ, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)))
    command = line.split()[0]
    done = subprocess.run(["bash", "-c", f'{sys.executable} -m "$0" 8>&1 9>/dev/null 1>/dev/null',
                           PARSERS[command].partition(":")[0]],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return sorted(word.strip() for word in done.stdout.split("\013"))


def test_corralctl_completes_groups_commands_and_options() -> None:
    assert _complete("corralctl un") == ["unit"]
    assert _complete("corralctl unit li") == ["list"]
    assert _complete("corralctl unit list --f") == ["--fields", "--full"]
    assert _complete("corral-mirror pr") == ["promote", "prune"]


def test_argcomplete_is_not_imported_unless_a_shell_asks() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_ARGCOMPLETE"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "corral.mirror.cli",
                           "--version"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert "corral.completion" in done.stderr and "argcomplete" not in done.stderr
