"""`import` checks each bundle member against the signed documents as it streams, and
stops at the first surprise having written no more than what was declared."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from mirror_setup import Upstream, make_upstream

from corral.mirror.bundle_limits import MAX_DOCUMENT_BYTES, MAX_MEMBERS
from corral.mirror.cli import main

Members = list[tuple[str, bytes]]


@pytest.fixture
def upstream(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys, payload_size=256 << 10)


@pytest.fixture
def members(tmp_path, upstream) -> Members:
    """The members of a real exported bundle, in its order."""
    bundle = tmp_path / "exported.tar"
    assert main(["export", str(upstream.dir), str(bundle)]) == 0
    with tarfile.open(bundle) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def write_tar(path: Path, members: Members, compress: str = "") -> Path:
    with tarfile.open(path, f"w:{compress}") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def payload_name(members: Members) -> str:
    return next(name for name, _ in members if name.startswith("pool/"))


def run_import(mirror: Path, bundle: Path, keys, *flags: str) -> int:
    return main(["import", str(mirror), str(bundle), "--key", keys.alice, "--threshold", "1",
                 *flags])


def bytes_under(path: Path) -> int:
    """Bytes really allocated on disk under `path` (sparse files count what they use)."""
    return sum(p.lstat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def assert_nothing_imported(mirror: Path) -> None:
    assert not (mirror / "channels").exists()
    assert not list(mirror.glob("pool/*/*"))
    assert not list(mirror.glob(".corral-mirror/partial/*"))
    assert not list(mirror.glob(".corral-mirror/import-*"))


def test_a_plain_and_a_gzip_bundle_import(tmp_path, keys, members, capsys):
    for compress in ("", "gz"):
        mirror = tmp_path / f"mirror-{compress or 'plain'}"
        bundle = write_tar(tmp_path / f"b.tar.{compress}", members, compress)
        assert run_import(mirror, bundle, keys) == 0, capsys.readouterr().err
        assert (mirror / payload_name(members)).read_bytes() == dict(members)[
            payload_name(members)]


def test_a_2_gib_sparse_member_is_refused_before_a_byte_is_written(tmp_path, keys, members,
                                                                   capsys):
    bundle = write_tar(tmp_path / "b.tar", members)
    big = tmp_path / "sparse" / "big.img"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    sparse = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--format=gnu", "--sparse", "-cf", str(sparse), "-C",
                    str(big.parent), "--transform", "s,^,pool/junk/,", "big.img"], check=True)
    subprocess.run(["tar", "-Af", str(bundle), str(sparse)], check=True)
    assert bundle.stat().st_size < 3 << 20
    mirror = tmp_path / "mirror"
    assert run_import(mirror, bundle, keys) == 1
    err = capsys.readouterr().err
    assert "'pool/junk/big.img'" in err and "not declared" in err
    assert bytes_under(mirror) < 1 << 20  # the old import wrote 2 GiB here
    assert_nothing_imported(mirror)


def test_50000_junk_members_stop_at_the_first(tmp_path, keys, members, capsys):
    junk = [(f"junk/{i}", b"x") for i in range(50_000)]
    bundle = write_tar(tmp_path / "b.tar", members[:2] + junk + members[2:])
    mirror = tmp_path / "mirror"
    started = time.monotonic()
    assert run_import(mirror, bundle, keys) == 1
    assert time.monotonic() - started < 5
    assert "member 'junk/0': not a file a bundle holds" in capsys.readouterr().err
    assert not (mirror / "junk").exists()
    assert_nothing_imported(mirror)


def test_a_gzip_bomb_is_stopped_at_the_declared_size(tmp_path, keys, members, capsys):
    name = payload_name(members)
    declared = len(dict(members)[name])
    bundle = tmp_path / "bomb.tar.gz"
    with gzip.open(bundle, "wb", compresslevel=1) as out, tarfile.open(fileobj=out,
                                                                       mode="w|") as tar:
        for member, data in members:
            if member != name:
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.size = 256 << 20  # 256 MiB of zeros: a few hundred KiB compressed
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bundle.stat().st_size < 2 << 20
    mirror = tmp_path / "mirror"
    assert run_import(mirror, bundle, keys) == 1
    err = capsys.readouterr().err
    assert f"member {name!r}: {256 << 20} bytes, more than {declared}" in err
    assert bytes_under(mirror) < 1 << 20
    assert_nothing_imported(mirror)


def test_a_payload_member_twice_is_refused_and_its_partial_removed(tmp_path, keys, members,
                                                                   capsys):
    name = payload_name(members)
    bundle = write_tar(tmp_path / "b.tar", [*members, (name, dict(members)[name])])
    mirror = tmp_path / "mirror"
    assert run_import(mirror, bundle, keys) == 1
    assert f"member {name!r}: appears twice" in capsys.readouterr().err
    assert_nothing_imported(mirror)


def test_a_tampered_payload_leaves_no_partial(tmp_path, keys, members, capsys):
    name = payload_name(members)
    data = bytearray(dict(members)[name])
    data[1000] ^= 0xFF
    bundle = write_tar(tmp_path / "b.tar", [(n, bytes(data) if n == name else d)
                                            for n, d in members])
    mirror = tmp_path / "mirror"
    assert run_import(mirror, bundle, keys) == 3
    err = capsys.readouterr().err
    assert "PayloadHashMismatch" in err and name in err
    assert_nothing_imported(mirror)


def test_documents_after_payloads_and_missing_payloads_are_refused(tmp_path, keys, members,
                                                                   capsys):
    name = payload_name(members)
    history = "channels/stable/1.json"
    late = [m for m in members if m[0] != history] + [(history, dict(members)[history])]
    assert run_import(tmp_path / "m1", write_tar(tmp_path / "a.tar", late), keys) == 1
    assert f"member {history!r}: a document after the payloads" in capsys.readouterr().err
    early = [m for m in members if m[0] != "root.json"] + [("root.json", b"{}")]
    assert run_import(tmp_path / "m3", write_tar(tmp_path / "c.tar", early), keys) == 1
    assert "lacks 'root.json' before its first payload" in capsys.readouterr().err
    without = [m for m in members if m[0] != name]
    assert run_import(tmp_path / "m2", write_tar(tmp_path / "b.tar", without), keys) == 1
    assert f"lacks the payload {name!r}" in capsys.readouterr().err
    for mirror in ("m1", "m2", "m3"):
        assert_nothing_imported(tmp_path / mirror)


def test_an_unsigned_extra_release_history_is_refused(tmp_path, keys, members, capsys):
    extra = [*members[:-1], ("channels/stable/7.json", b"{}"), members[-1]]
    assert run_import(tmp_path / "m", write_tar(tmp_path / "b.tar", extra), keys) == 1
    assert "member 'channels/stable/7.json': not part of the verified releases" in (
        capsys.readouterr().err)


def test_limits_on_members_documents_and_total_bytes(tmp_path, keys, members, capsys):
    many = [(f"root/{i}.json", b"{}") for i in range(100, 100 + MAX_MEMBERS)]
    assert run_import(tmp_path / "m1", write_tar(tmp_path / "a.tar", members[:1] + many),
                      keys) == 1
    assert f"more than {MAX_MEMBERS} members" in capsys.readouterr().err
    huge = [("channels/stable/release.json", bytes(2 << 20))]
    assert run_import(tmp_path / "m2", write_tar(tmp_path / "b.tar", huge), keys) == 1
    assert "'channels/stable/release.json': 2097152 bytes, more than 1048576" in (
        capsys.readouterr().err)
    bundle = write_tar(tmp_path / "c.tar", members)
    assert run_import(tmp_path / "m3", bundle, keys, "--max-bytes", "100k") == 1
    assert "more than --max-bytes 102400" in capsys.readouterr().err
    mib = [(f"root/{i}.json", bytes(1 << 20)) for i in range(100, 100 + 17)]
    assert run_import(tmp_path / "m4", write_tar(tmp_path / "d.tar", mib), keys) == 1
    assert f"'root/116.json': documents exceed {MAX_DOCUMENT_BYTES} bytes in all" in (
        capsys.readouterr().err)
    for mirror in ("m1", "m2", "m3", "m4"):
        assert_nothing_imported(tmp_path / mirror)


def test_a_pax_header_bomb_is_refused_without_reading_it(tmp_path, keys, members, capsys):
    bundle = tmp_path / "pax.tar"
    write_tar(bundle, members[:1])
    raw = bundle.read_bytes()
    end = 512 + -(-len(members[0][1]) // 512) * 512  # past the first member's data
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 1 << 30  # a 1 GiB extended header, of which 1 MiB is in the file
    block = header.tobuf(tarfile.USTAR_FORMAT)
    bundle.write_bytes(raw[:end] + block + os.urandom(1 << 20))
    assert run_import(tmp_path / "m", bundle, keys) == 1
    err = capsys.readouterr().err
    assert "after member 'channels.json': more than allowed" in err
    assert_nothing_imported(tmp_path / "m")
