"""Fuzzing `import` with generated and mutated bundles: truncated, flipped, wrong sizes,
symlinks, hardlinks, devices, sparse members, PAX headers, long and duplicate names,
gzip/bzip2/xz. Every run ends in success or a clear error (never a traceback), writes
nothing outside the mirror, and never more than the signed documents declare.

Deterministic: the seeds are fixed, so a failure names the case that reproduces it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from mirror_setup import make_upstream

from corral.mirror.cli import main

CASES = 160  # about 30 s: each case that verifies runs gpg three times
PAYLOAD = 64 << 10

Members = list[tuple[tarfile.TarInfo, bytes]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, keys) -> Members:
    tmp = tmp_path_factory.mktemp("fuzz-upstream")
    up = make_upstream(tmp, keys, payload_size=PAYLOAD)
    bundle = tmp / "b.tar"
    assert main(["export", str(up.dir), str(bundle)]) == 0
    with tarfile.open(bundle) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def _info(
    name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = size, kind, link
    return info


def _odd_member(rng: random.Random, members: Members) -> tuple[tarfile.TarInfo, bytes]:
    """A member that no bundle of ours holds."""
    name = rng.choice([m.name for m, _ in members] + [
        "/etc/passwd", "../../escape", "pool/../../x", "root/../../../y", "channels.json/x",
        "a" * 300, "pool/" + "b" * 64 + "/" + "c" * 250, "./root.json", "root//1.json",
        "root/0.json", "root/99999999999.json", "channels/UPPER/release.json", "\u00e9.json",
    ])
    kind = rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                       tarfile.FIFOTYPE, tarfile.DIRTYPE, tarfile.CONTTYPE, tarfile.REGTYPE])
    link = rng.choice(["/etc/passwd", "../../../x", "root.json", ""])
    data = b"" if kind != tarfile.REGTYPE else rng.randbytes(rng.randrange(0, 4096))
    return _info(name, len(data), kind, link), data


def _structure(rng: random.Random, members: Members) -> Members:
    """The exported members, reordered, duplicated, dropped, or joined by odd ones."""
    out = list(members)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        if op == 0 and out:
            out.pop(rng.randrange(len(out)))
        elif op == 1 and out:
            out.insert(rng.randrange(len(out) + 1), rng.choice(out))
        elif op == 2:
            out.insert(rng.randrange(len(out) + 1), _odd_member(rng, members))
        elif op == 3 and len(out) > 1:
            i, j = rng.randrange(len(out)), rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
        elif op == 4 and out:
            i = rng.randrange(len(out))
            info, data = out[i]
            grown = data + rng.randbytes(rng.randrange(1, 2048))
            out[i] = (_info(info.name, len(grown)), grown)
    return out


def _write(members: Members, form: int, pax: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=form, pax_headers=pax) as tar:
        for info, data in members:
            copy = _info(info.name, len(data) if info.isreg() else 0, info.type, info.linkname)
            tar.addfile(copy, io.BytesIO(data) if copy.isreg() else None)
    return raw.getvalue()


def _bytes_mutation(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    op = rng.randrange(4)
    if op == 0:  # truncated
        return bytes(data[: rng.randrange(len(data))])
    if op == 1:  # bytes flipped, mostly in the first headers
        for _ in range(rng.randrange(1, 16)):
            at = rng.randrange(min(len(data), rng.choice([512, 4096, len(data)])))
            data[at] = rng.randrange(256)
        return bytes(data)
    if op == 2:  # a header's size field rewritten (checksum fixed, so tarfile believes it)
        starts = [i for i in range(0, len(data) - 512, 512) if data[i + 257: i + 262] == b"ustar"]
        if starts:
            at = rng.choice(starts)
            size = rng.choice([0, 1, 511, 10**6, 8**11 - 1])
            data[at + 124: at + 136] = b"%011o\0" % size
            data[at + 148: at + 156] = b"        "
            data[at + 148: at + 156] = b"%06o\0 " % sum(data[at: at + 512])
        return bytes(data)
    return bytes(data) + rng.randbytes(rng.randrange(1, 4096))  # trailing garbage


def _compress(rng: random.Random, raw: bytes) -> bytes:
    how: Callable[[bytes], bytes] = rng.choice([
        lambda b: b, gzip.compress, bz2.compress, lzma.compress,
        lambda b: gzip.compress(b)[: rng.randrange(1, max(2, len(gzip.compress(b))))],
        lambda b: gzip.compress(b[: len(b) // 2]) + gzip.compress(b[len(b) // 2:]),
    ])
    return how(raw)


def bundle_for(seed: int, members: Members) -> bytes:
    rng = random.Random(seed)
    chosen = _structure(rng, members) if rng.random() < 0.7 else list(members)
    form = rng.choice([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
    pax = None
    if form == tarfile.PAX_FORMAT and rng.random() < 0.3:
        pax = {rng.choice(["path", "size", "linkpath", "GNU.sparse.size", "comment"]):
               rng.choice(["../../etc/x", "99999999999", "-1", "\u00e9", "x" * 5000])}
    try:
        raw = _write(chosen, form, pax)
    except (ValueError, tarfile.TarError):  # a name this format cannot hold
        raw = _write(chosen, tarfile.PAX_FORMAT)
    if rng.random() < 0.5:
        raw = _bytes_mutation(rng, raw)
    return _compress(rng, raw)


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if not p.is_dir()}


def test_import_of_mutated_bundles_never_fails_unclearly(tmp_path, keys, exported, capsys):
    outcomes: dict[int, int] = {}
    outside_before = files_under(tmp_path)
    for seed in range(CASES):
        bundle = tmp_path / f"case-{seed}.tar"
        bundle.write_bytes(bundle_for(seed, exported))
        mirror = tmp_path / "mirrors" / str(seed)
        rc = main(["import", str(mirror), str(bundle), "--key", keys.alice,
                   "--threshold", "1"])
        err = capsys.readouterr().err
        assert rc in (0, 1, 3), f"case {seed}: exit {rc}: {err}"
        assert "Traceback" not in err
        outcomes[rc] = outcomes.get(rc, 0) + 1
        written = sum(p.stat().st_blocks * 512 for p in files_under(mirror))
        assert written < PAYLOAD + (1 << 20), f"case {seed}: {written} bytes written"
        if rc != 0:
            assert not list(mirror.glob(".corral-mirror/partial/*")), f"case {seed}"
            assert not list(mirror.glob("pool/*/*")), f"case {seed}"
        bundle.unlink()
    outside = files_under(tmp_path) - outside_before
    assert all(p.is_relative_to(tmp_path / "mirrors") for p in outside), outside
    # the fuzz reached both ends: some bundles imported, most were refused
    assert outcomes.get(0, 0) > 10 and outcomes.get(1, 0) > CASES // 3, outcomes
