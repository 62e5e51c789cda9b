"""The documentation says what the code does: flag tables match the parsers, and the
README's quick start runs as written, as an unprivileged user."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER = "corral-quickstart"


def test_flag_tables_match_the_parsers() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "flag_docs.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_flag_table_names_a_real_command() -> None:
    blocks = re.findall(r"<!-- flags: ([^>]+?) -->\n\| ", "".join(
        p.read_text() for p in sorted((REPO / "docs").glob("*.md"))))
    assert {"corral-store", "corral-fleet", "corral-updated", "corral-mirror"} <= set(blocks)


def _quick_start() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Try it in five minutes", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unprivileged():
    """A user of its own (so every process it leaves can be ended) and a home for it."""
    if os.geteuid() != 0:
        pytest.fail("this test creates a user: run it as root (make test does)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    # pytest's tmp_path lies under a directory only root may enter
    home = Path(tempfile.mkdtemp(prefix="corral-quickstart-"))
    os.chown(home, pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid)
    try:
        yield home
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER], check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_quick_start_moves_the_unit_without_root(unprivileged: Path) -> None:
    """The README's commands as they stand, install included, from a copy of this
    repository in the home of a user who is not root."""
    clone = unprivileged / "corral"
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "*.egg-info", "__pycache__", ".*_cache", "build"))
    subprocess.run(["chown", "-R", USER, str(clone)], check=True)
    body = _quick_start().replace("2379", str(_free_port()))
    # slack for a loaded CI machine; every wait in the text is a sleep
    body = re.sub(r"\bsleep (\d+)", lambda m: f"sleep {int(m.group(1)) * 4}", body)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}  # fmt: skip
    result = subprocess.run(
        ["runuser", "-u", USER, "--", "env", f"HOME={unprivileged}",
         "bash", "-euc", f"cd {clone}\n{body}\nkill %1 %2 %3"],
        capture_output=True, text=True, env=env, timeout=420,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.count("Hello, Corral") == 2  # kv set echoes, kv get reads
    assert re.search(r"^m1\s", out, re.M) and re.search(r"^m2\s", out, re.M)
    lists = re.findall(r"^m\.service\s+(m\d)/", out, re.M)
    assert lists[-1] == "m2", out  # after draining m1 it runs on m2
    assert "Hello World" in out.split("machine m1 drained", 1)[1]


def test_changelog_fragments_are_valid() -> None:
    """antsibull-changelog's own lint: every fragment under changelogs/fragments has a
    known section and the right shape, so the next release's notes can be rendered."""
    result = subprocess.run(
        ["antsibull-changelog", "lint"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_every_test_security_md_names_exists() -> None:
    """The limits table names, for each limit, the test that crosses it: each named test
    must exist, so a renamed or deleted test cannot leave a limit unproven on paper."""
    text = (REPO / "SECURITY.md").read_text()
    named = re.findall(r"`(?:(tests/[\w/]+\.py)|(test_\w+\.py))?::(\w+)(?:\[[^\]]*\])?`", text)
    assert len(named) > 20
    last_file = None
    missing = []
    for path, bare, test in named:
        if path or bare:
            found = [REPO / path] if path else sorted((REPO / "tests").rglob(bare))
            assert len(found) == 1 and found[0].is_file(), f"{path or bare}: {found}"
            last_file = found[0]
        assert last_file is not None
        if not re.search(rf"^\s*(async )?def {test}\(", last_file.read_text(), re.M):
            missing.append(f"{last_file.relative_to(REPO)}::{test}")
    assert not missing, missing
