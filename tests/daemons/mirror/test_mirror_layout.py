"""Directories the mirror creates are durable: each is fsynced into its parent before
anything is renamed into it (seen with strace: a crash test cannot cut the power)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from corral.mirror.layout import make_dirs


def test_make_dirs_fsyncs_each_new_directory_into_its_parent(tmp_path: Path) -> None:
    (tmp_path / "pool").mkdir()
    target = tmp_path / "pool" / "ab12" / "deep"
    trace = tmp_path / "trace"
    code = "import sys; from pathlib import Path; from corral.mirror.layout import make_dirs; "
    code += "make_dirs(Path(sys.argv[1]))"
    subprocess.run(
        ["strace", "-f", "-y", "-e", "trace=mkdir,mkdirat,fsync", "-o", str(trace),
         sys.executable, "-c", code, str(target)],
        check=True,
    )  # fmt: skip
    calls = []
    for line in trace.read_text().splitlines():
        made = re.search(r'mkdir(?:at)?\((?:AT_FDCWD[^,]*, )?"([^"]+)"', line)
        synced = re.search(r"fsync\(\d+<([^>]+)>\)", line)
        if made:
            calls.append(("mkdir", made.group(1)))
        elif synced:
            calls.append(("fsync", synced.group(1)))
    pool = str(tmp_path / "pool")
    assert calls == [
        ("mkdir", f"{pool}/ab12"),
        ("fsync", pool),
        ("mkdir", f"{pool}/ab12/deep"),
        ("fsync", f"{pool}/ab12"),
    ]
    assert target.is_dir()


def test_make_dirs_on_existing_directories_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    make_dirs(tmp_path / "a" / "b")
    make_dirs(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]
