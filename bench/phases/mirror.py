"""Mirror phases: `corral-mirror sync` against curl, payload verification against sha256sum.

- sync: an upstream mirror holding one payload (1 GiB; 8 MiB in smoke runs) is served
  by `corral-mirror serve` on 127.0.0.1. One side is `corral-mirror sync` into a fresh
  directory (a whole process: start-up, gpg verification of root and release, Range-
  capable download, sha256, fsync, atomic switch); the reference is one `curl`
  process fetching the same four files (root.json, channels.json, release.json,
  payload) into a fresh directory. Target: sync >= 0.8 of curl's MiB/s.
- verify: the trust library's `PayloadCheck` over the payload file (1 MiB reads, as a
  resumed download re-hashes) against `sha256sum` of the same file, page cache warm.
  Target: <= 1.2 of sha256sum's time.

Like with like, for sync: both sides fetch the same files from the same server process
(`corral-mirror serve`, sendfile from a page cache warmed by the publish and by every
round alike) and both write them to a file system on disk, into a directory removed
before each round; every round starts after `os.sync()`, so neither side pays for
the other's writeback. The reference is the lighter side: curl only writes into the
page cache and never fsyncs, while sync also checks gpg signatures, hashes every byte
and makes the payload durable before its rename (it writes with O_DIRECT, see
`corral.mirror.appendfile`). Nothing else is tuned for the benchmark. Where a sync's
time goes (start-up, verification, payload) is measured in `corral.mirror.sync`'s
docstring; a fresh directory each round means ours never reuses a keyring or a
partial download, and always pays its whole start-up.

Rounds alternate sides (reference, ours, ours, reference, ...) so background load falls
on both alike; each side's figure is its best round (least disturbed on a shared
machine), every round is kept in `detail`, with the load average before the phase.
`make bench` runs both phases (`python -m bench.run --only mirror-sync,mirror-verify`);
alone: `python -m bench.phases.mirror [--smoke]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.context import FULL, SMOKE, Bench
from bench.report import Report, Row, render
from bench.targets import target
from corral.mirror.layout import Layout
from corral.mirror.publish import current_release
from corral.testing import ManagedProcess, wait_until
from corral.trust import PayloadCheck

MIB = 1 << 20
SERVING = re.compile(r"serving mirror \S+ on (http://\S+)")
DOCUMENTS = ["root.json", "channels.json", "channels/stable/release.json"]


def _sizes(bench: Bench) -> tuple[int, int]:
    """(payload bytes, rounds per side)."""
    return (8 * MIB, 2) if bench.scale == SMOKE else (1024 * MIB, 3)


def _mirror(*args: str, gnupghome: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "corral.mirror.cli", "--gnupghome", str(gnupghome), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"corral-mirror {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def _key(home: Path) -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "bench <bench@corral.test>",
            "ed25519",
            "sign",
            "never",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def _upstream(work: Path, size: int) -> tuple[Path, Path, str]:
    """A mirror with one payload of `size` random bytes; returns (dir, gnupghome, key)."""
    # gpg-agent's socket lives in the home: keep its path short (108-byte limit)
    home, up = Path(tempfile.mkdtemp(prefix="corral-gpg-", dir="/tmp")), work / "upstream"
    key = _key(home)
    _mirror("init", str(up), "--key", key, "--product", "bench", gnupghome=home)
    source = work / "payload.img"
    with open(source, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    _mirror(
        "publish",
        str(up),
        str(source),
        "--channel",
        "stable",
        "--version",
        "1.0",
        "--key",
        key,
        gnupghome=home,
    )
    source.unlink()
    return up, home, key


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _rounds(
    ours: Callable[[], None], reference: Callable[[], None], rounds: int, reset: Callable[[], None]
) -> tuple[list[float], list[float]]:
    mine: list[float] = []
    theirs: list[float] = []
    for n in range(rounds):
        order = [(theirs, reference), (mine, ours)]
        for times, run in order if n % 2 == 0 else order[::-1]:
            reset()
            times.append(_timed(run))
    reset()
    return mine, theirs


def _cleanup(work: Path, home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True
    )
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


def sync(bench: Bench) -> list[Row]:
    size, rounds = _sizes(bench)
    work = bench.work_dir / "mirror-sync"
    up, home, key = _upstream(work, size)
    payload = current_release(Layout(up), "stable")
    assert payload is not None
    files = [*DOCUMENTS, payload.payload.path]
    server = ManagedProcess(
        [sys.executable, "-m", "corral.mirror.cli", "serve", str(up), "--listen", "127.0.0.1:0"],
        work / "serve.log",
    )
    down, fetched = work / "downstream", work / "curl"
    try:
        server.spawn()
        wait_until(lambda: SERVING.search(server.log_text()) is not None, 30, "mirror serve")
        match = SERVING.search(server.log_text())
        assert match is not None
        url = match.group(1)

        def ours() -> None:
            _mirror("sync", str(down), url, "--key", key, "--threshold", "1", gnupghome=home)

        def curl() -> None:
            args = ["curl", "--silent", "--fail", "--create-dirs"]
            for rel in files:
                args += ["-o", str(fetched / rel), f"{url}/{rel}"]
            subprocess.run(args, check=True, timeout=600)

        def reset() -> None:
            shutil.rmtree(down, ignore_errors=True)
            shutil.rmtree(fetched, ignore_errors=True)
            os.sync()  # no writeback left over from the previous round

        load = os.getloadavg()
        mine, theirs = _rounds(ours, curl, rounds, reset)
    finally:
        server.stop()
        _cleanup(work, home)
    mib = size / MIB
    return [
        Row(
            phase="mirror-sync",
            figure=f"sync {mib:g} MiB payload over loopback",
            unit="MiB/s",
            ours=mib / min(mine),
            reference=mib / min(theirs),
            target=target("mirror-sync"),
            note="reference: curl",
            detail={"seconds": {"ours": mine, "reference": theirs}, "loadavg_before": load},
        )
    ]


def verify(bench: Bench) -> list[Row]:
    size, rounds = _sizes(bench)
    work = bench.work_dir / "mirror-verify"
    up, home, _ = _upstream(work, size)
    try:
        release = current_release(Layout(up), "stable")
        assert release is not None
        path = up / release.payload.path

        def ours() -> None:
            check = PayloadCheck(release.payload)
            with open(path, "rb") as f:
                while chunk := f.read(MIB):
                    check.feed(chunk)
            check.finish()

        def sha256sum() -> None:
            subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, timeout=600)

        sha256sum()  # warm the page cache for both sides
        mine, theirs = _rounds(ours, sha256sum, rounds, lambda: None)
    finally:
        _cleanup(work, home)
    return [
        Row(
            phase="mirror-verify",
            figure=f"verify {size / MIB:g} MiB payload",
            unit="s",
            ours=min(mine),
            reference=min(theirs),
            target=target("mirror-verify"),
            note="reference: sha256sum",
            detail={"seconds": {"ours": mine, "reference": theirs}},
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.mirror")
    parser.add_argument("--smoke", action="store_true", help="8 MiB instead of 1 GiB")
    parser.add_argument("--work-dir", type=Path, help="scratch space (removed at the end)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="corral-bench-mirror-"))
    bench = Bench(SMOKE if args.smoke else FULL, work, "store")
    report = Report(meta={"smoke": args.smoke, "loadavg_before": os.getloadavg()})
    try:
        report.add(*sync(bench), *verify(bench))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(report, "corral-mirror", "curl/sha256sum"))
    for row in report.rows:  # every round, since one table line shows only the best
        print(f"{row.phase}: {row.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
