"""A mirror's format marker (.corral-mirror/FORMAT): a mirror of 0.1.0 is upgraded by
the first command that writes, readers write nothing, a newer format stops every
command that writes or serves with the directory untouched, and the marker is never
served or exported.

"A mirror of 0.1.0": made by today's commands, then the marker removed. Those
commands write nothing else differently from 0.1.0 (the marker is the only
change to what they write), so that is the directory 0.1.0 leaves.
"""

from __future__ import annotations

import tarfile
import urllib.error
import urllib.request

import pytest
from mirror_servers import MirrorServe
from mirror_setup import Upstream, make_payload, make_upstream

from corral.testing import newer_format_refusal, tree_state


@pytest.fixture
def up(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys, payload_size=1000)


def test_a_new_mirror_records_its_format(up):
    assert (up.dir / ".corral-mirror/FORMAT").read_bytes() == b"1\n"


def test_a_mirror_of_0_1_0_is_upgraded_once_by_the_first_command_that_writes(
    tmp_path, keys, up
):
    marker = up.dir / ".corral-mirror/FORMAT"
    marker.unlink()  # what 0.1.0 left
    bundle = tmp_path / "out.tar"
    assert up.cli("export", str(up.dir), str(bundle)) == 0  # a reader: no marker written
    assert not marker.exists()
    up.publish(make_payload(tmp_path / "os-2.img", 100), "2.0.0")
    assert marker.read_bytes() == b"1\n"
    first = marker.stat().st_mtime_ns
    assert up.cli("prune", str(up.dir), "--keep", "1") == 0
    assert marker.stat().st_mtime_ns == first  # once
    assert up.cli("keys", str(up.dir), "list") == 0


def test_a_newer_mirror_is_refused_by_every_command_and_left_unchanged(
    tmp_path, keys, up, capsys
):
    bundle = tmp_path / "b.tar"
    assert up.cli("export", str(up.dir), str(bundle)) == 0
    (up.dir / ".corral-mirror/FORMAT").write_bytes(b"2\n")
    capsys.readouterr()
    before = tree_state(up.dir)
    payload = make_payload(tmp_path / "p.img", 10)
    key = ["--key", keys.alice, "--key", keys.bob]
    commands = [
        ["publish", str(up.dir), str(payload), "--channel", "stable", "--version", "3.0.0",
         *key],
        ["promote", str(up.dir), "--from", "stable", "--to", "beta", *key],
        ["resign", str(up.dir), "--channel", "stable", *key],
        ["keys", str(up.dir), "add", keys.carol, *key],
        ["keys", str(up.dir), "list"],
        ["prune", str(up.dir), "--keep", "1"],
        ["sync", str(up.dir), str(tmp_path / "elsewhere")],
        ["import", str(up.dir), str(bundle), "--key", keys.alice],
        ["export", str(up.dir), str(tmp_path / "again.tar")],
        ["serve", str(up.dir), "--listen", "127.0.0.1:0"],
        ["init", str(up.dir), *key],
    ]
    for argv in commands:
        assert up.cli(*argv) == 1, argv
        err = capsys.readouterr().err
        refusal = newer_format_refusal("corral-mirror", f"mirror {up.dir}", 2)
        assert err == f"corral-mirror: error: {refusal}\n", argv
    assert tree_state(up.dir) == before
    assert not (tmp_path / "again.tar").exists()


def test_a_marker_torn_by_a_crash_is_written_again(tmp_path, up):
    """A crash before the temporary marker was renamed: no marker, a partial one."""
    work = up.dir / ".corral-mirror"
    (work / "FORMAT").unlink()
    (work / "FORMAT.tmp").write_bytes(b"")
    up.publish(make_payload(tmp_path / "os-2.img", 100), "2.0.0")
    assert (work / "FORMAT").read_bytes() == b"1\n"
    assert not (work / "FORMAT.tmp").exists()


def test_the_marker_is_never_served_nor_exported(tmp_path, up):
    bundle = tmp_path / "out.tar"
    assert up.cli("export", str(up.dir), str(bundle)) == 0
    with tarfile.open(bundle) as tar:
        assert not [n for n in tar.getnames() if "corral-mirror" in n or "FORMAT" in n]
    serve = MirrorServe(up.dir, tmp_path / "serve.log").start()
    try:
        with urllib.request.urlopen(f"{serve.url}/root.json", timeout=10) as ok:
            assert ok.status == 200
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{serve.url}/.corral-mirror/FORMAT", timeout=10)
        assert answer.value.code == 404
    finally:
        serve.stop()
