"""The format framework itself (corral.formats), with migrations made up for the test:
steps run in order, once each; a newer format is refused untouched; a crash during a
step or while the marker is written is completed on the next start."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path, PurePath

import pytest

from corral import __version__, formats
from corral.formats import Format, FormatError, Migration
from corral.testing import tree_state


def _split_names(directory: Path) -> None:
    """Format 1 -> 2: `names` (one per line) becomes one file per name in names.d/.
    Safe to re-run: files already there are written again with the same bytes."""
    source = directory / "names"
    if not source.exists():
        return  # done already (or nothing to split)
    (directory / "names.d").mkdir(exist_ok=True)
    for name in source.read_text().split():
        (directory / "names.d" / name).write_text(name)
    source.unlink()


def _count_names(directory: Path) -> None:
    """Format 2 -> 3: a `count` file beside names.d/."""
    names = directory / "names.d"
    count = len(list(names.iterdir())) if names.is_dir() else 0
    (directory / "count").write_text(f"{count}\n")


THREE = Format("corral-test", "state directory", PurePath("meta/FORMAT"), (
    Migration("one file per name", _split_names),
    Migration("count the names", _count_names),
))  # fmt: skip
ONE = Format("corral-test", "state directory", PurePath("meta/FORMAT"))


def test_the_current_format_is_one_more_than_the_steps() -> None:
    assert ONE.current == 1 and THREE.current == 3


def test_an_unversioned_directory_runs_every_step_in_order_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "names").write_text("a\nb\n")
    caplog.set_level(logging.INFO, "corral.formats")
    opened = formats.open_directory(tmp_path, THREE)
    assert (opened.found, opened.recorded, opened.current) == (1, False, 3)
    assert (tmp_path / "meta/FORMAT").read_bytes() == b"3\n"
    assert sorted(p.name for p in (tmp_path / "names.d").iterdir()) == ["a", "b"]
    assert (tmp_path / "count").read_text() == "2\n"
    assert f"state directory {tmp_path}: upgraded from format 1 to 3" in caplog.text
    before = tree_state(tmp_path)
    caplog.clear()
    again = formats.open_directory(tmp_path, THREE)
    assert (again.found, again.recorded) == (3, True)
    assert tree_state(tmp_path) == before and caplog.text == ""


def test_a_recorded_older_format_runs_only_the_later_steps(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/FORMAT").write_bytes(b"2\n")
    (tmp_path / "names").write_text("left alone: step 1 is not for format 2\n")
    formats.open_directory(tmp_path, THREE)
    assert (tmp_path / "names").exists() and (tmp_path / "count").read_text() == "0\n"


def test_a_new_directory_is_created_with_the_current_format_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No step runs on a new directory, and no line is logged: a daemon that then
    fails to start says so in one line."""
    caplog.set_level(logging.INFO, "corral.formats")
    formats.open_directory(tmp_path / "new", THREE)
    assert (tmp_path / "new/meta/FORMAT").read_bytes() == b"3\n"
    assert list((tmp_path / "new").iterdir()) == [tmp_path / "new/meta"]
    assert caplog.text == ""


def test_an_unversioned_directory_of_the_current_format_gets_its_marker_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state.json").write_text("{}")
    caplog.set_level(logging.INFO, "corral.formats")
    opened = formats.open_directory(tmp_path, ONE)
    assert (opened.found, opened.recorded) == (1, False)
    assert (tmp_path / "meta/FORMAT").read_bytes() == b"1\n"
    assert f"state directory {tmp_path}: format 1 recorded" in caplog.text


def test_a_newer_format_is_refused_with_both_versions_and_nothing_changes(
    tmp_path: Path,
) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/FORMAT").write_bytes(b"4\n")
    (tmp_path / "names").write_text("a\n")
    before = tree_state(tmp_path)
    with pytest.raises(FormatError) as refused:
        formats.open_directory(tmp_path, THREE)
    assert str(refused.value) == (
        f"state directory {tmp_path} has format 4; this corral-test (version {__version__})"
        " reads formats up to 3: upgrade corral-test, or restore a backup taken before the"
        " newer one ran"
    )
    with pytest.raises(FormatError, match="has format 4"):
        formats.check(tmp_path, THREE)
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("marker", [b"", b"three\n", b"0\n", b"-1\n", b"\xd9\xa3\n", b"1" * 65])
def test_a_marker_that_is_not_a_format_is_refused(tmp_path: Path, marker: bytes) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/FORMAT").write_bytes(marker)
    before = tree_state(tmp_path)
    with pytest.raises(FormatError, match="is not a format marker"):
        formats.open_directory(tmp_path, THREE)
    assert tree_state(tmp_path) == before


def test_a_reader_refuses_a_format_it_would_have_to_upgrade(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="has format 1; this corral-test reads format 3"):
        formats.check(tmp_path, THREE)
    assert formats.check(tmp_path, ONE).found == 1
    assert list(tmp_path.iterdir()) == []  # a reader writes nothing


def test_a_step_killed_half_way_runs_again_on_the_next_start(tmp_path: Path) -> None:
    """SIGKILL inside step 1 (after one of two names): the marker still says format 1,
    and the next start finishes step 1 on its partial result, then step 2."""
    (tmp_path / "names").write_text("a\nb\n")
    child = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path, PurePath
        from corral import formats

        def dies_half_way(directory):
            (directory / "names.d").mkdir()
            (directory / "names.d" / "a").write_text("a")
            os.kill(os.getpid(), signal.SIGKILL)

        fmt = formats.Format("corral-test", "state directory", PurePath("meta/FORMAT"),
                             (formats.Migration("split", dies_half_way),) * 2)
        formats.open_directory(Path({str(tmp_path)!r}), fmt)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=30)
    assert done.returncode == -9
    assert not (tmp_path / "meta/FORMAT").exists()  # no marker: still format 1
    formats.open_directory(tmp_path, THREE)
    assert sorted(p.name for p in (tmp_path / "names.d").iterdir()) == ["a", "b"]
    assert (tmp_path / "count").read_text() == "2\n"
    assert (tmp_path / "meta/FORMAT").read_bytes() == b"3\n"


def test_a_temporary_marker_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    """A crash between writing the temporary marker and its rename: the old marker
    (format 2) still counts, and the next start writes the new one over the leftover."""
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/FORMAT").write_bytes(b"2\n")
    (tmp_path / "meta/FORMAT.tmp").write_bytes(b"3")  # torn: no newline, never renamed
    formats.open_directory(tmp_path, THREE)
    assert (tmp_path / "meta/FORMAT").read_bytes() == b"3\n"
    assert not (tmp_path / "meta/FORMAT.tmp").exists()
