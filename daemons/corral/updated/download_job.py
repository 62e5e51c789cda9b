"""A payload download on its own thread, so the engine's loop keeps answering holds,
requests and settings meanwhile; cancellable, and clean on failure. Its time is bounded
by the fetcher's pace (`corral.mirror.pace`: a minimum average rate, and a deadline
from the payload's size), which abandons a transfer too slow with `SlowRetrieval`.

Invariants:
- the download starts only with the payload's remaining size plus `margin` free in
  its directory (else `NoSpace`, before a byte is fetched);
- no more than `SLICE` bytes are read from the network between two looks at the
  cancel flag, so a cancel stops it within one slice (or the fetcher's pace, when the
  mirror sends nothing at all);
- on a cancel or an interrupted transfer (`DownloadError`) the partial file stays, and
  the next attempt resumes it (but not after `SlowRetrieval`: the mirror client drops
  it, so a drip cannot add up over attempts); on any other failure (a full disk, a
  hash mismatch...) it is removed; files in the directory other than this release's
  partial file are removed before the download starts (a complete payload left by a
  crash, an older release's partial file);
- the thread never touches the store except through `report` (given a client of its
  own by the engine: store clients are not thread-safe).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from corral.mirror.client import MirrorClient
from corral.mirror.fetch import Fetcher, Stream
from corral.mirror.progress import Progress
from corral.trust import DownloadError, PayloadCheck, Release
from corral.updated import metrics

SLICE = 256 << 10  # bytes read between two looks at the cancel flag: ~0.1 s at 2 MiB/s


class Cancelled(Exception):
    """The engine stopped the download (a hold, a new channel, shutdown)."""


class NoSpace(OSError):
    """Not enough free space for the payload: refused before downloading."""


def partial_path(directory: Path, release: Release) -> Path:
    # the name MirrorClient.download uses: it resumes from this file
    return directory / f".{Path(release.payload.path).name}.{release.payload.sha256[:16]}.partial"


def check_space(directory: Path, release: Release, margin: int) -> None:
    partial = partial_path(directory, release)
    have = partial.stat().st_size if partial.exists() else 0
    needed = max(release.payload.size - have, 0) + margin
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise NoSpace(f"not enough space in {directory}: {free} bytes free,"
                      f" {needed} needed ({release.payload.size - have} for the payload"
                      f" {release.version} and a margin of {margin})")  # fmt: skip


def remove_strays(directory: Path, keep: Path) -> None:
    """Everything in the download directory but `keep`: leftovers of older attempts."""
    for path in directory.iterdir():
        if path != keep and path.is_file():
            path.unlink(missing_ok=True)


class _Bounded:
    """A Stream read in slices, each after a look at the cancel flag. A cancel mid-buffer
    hands back the bytes already in it (so they are written and kept for resuming) and
    raises at the next read."""

    def __init__(self, inner: Stream, job: DownloadJob) -> None:
        self.inner = inner
        self.job = job
        self.start = inner.start

    def _cancelled(self) -> Cancelled | None:
        return Cancelled(self.job.cancel_reason) if self.job.cancelled.is_set() else None

    def read(self, size: int) -> bytes:
        if (stop := self._cancelled()) is not None:
            raise stop
        data = self.inner.read(min(size, SLICE))
        metrics.DOWNLOAD_BYTES.inc(len(data))
        return data

    def readinto(self, buffer: memoryview) -> int:
        filled = 0
        while filled < len(buffer):  # fill it all: fewer bytes mean the end of the stream
            if (stop := self._cancelled()) is not None:
                if filled:
                    return filled  # these are kept; the next read raises
                raise stop
            count = self.inner.readinto(buffer[filled:filled + SLICE])
            if not count:
                break
            metrics.DOWNLOAD_BYTES.inc(count)
            filled += count
        return filled

    def close(self) -> None:
        self.inner.close()


class _BoundedFetcher:
    def __init__(self, inner: Fetcher, job: DownloadJob) -> None:
        self.inner = inner
        self.job = job

    def document(self, path: str, limit: int) -> bytes:
        return self.inner.document(path, limit)

    def open_range(self, path: str, offset: int, size: int) -> Stream:
        return _Bounded(self.inner.open_range(path, offset, size), self.job)


class _Reported(Progress):
    """Progress to `report`: each tenth of the way, and at most twice a second between."""

    def __init__(self, total: int, report: Callable[[float], None]) -> None:
        super().__init__("download", total)
        self.report = report
        self.last = 0.0
        self.tenth = -1

    def advance(self, count: int) -> None:
        super().advance(count)
        fraction = self.done / self.total if self.total else 1.0
        now = time.monotonic()
        if now - self.last >= 0.5 or int(fraction * 10) > self.tenth:
            self.last, self.tenth = now, int(fraction * 10)
            self.report(round(fraction, 4))


class DownloadJob:
    """Download and verify one release's payload on a thread; `path` or `error` after."""

    def __init__(self, mirror: MirrorClient, release: Release, directory: Path,
                 margin: int, report: Callable[[float], None]) -> None:  # fmt: skip
        self.release = release
        self.directory = directory
        self.margin = margin
        self.report = report
        self.mirror = MirrorClient(_BoundedFetcher(mirror.fetcher, self), mirror.config,
                                   mirror.state_file, mirror.clock)  # fmt: skip
        self.cancelled = threading.Event()
        self.cancel_reason = ""
        self.path: Path | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="download", daemon=True)

    def start(self) -> DownloadJob:
        self._thread.start()
        return self

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self.cancelled.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        partial = partial_path(self.directory, self.release)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            remove_strays(self.directory, partial)
            check_space(self.directory, self.release, self.margin)
            path = self.mirror.download(self.release, self.directory,
                                        _Reported(self.release.payload.size, self.report))
            try:
                _check_file(self.release, path)  # what goes into the slot is what was verified
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            self.path = path
        except (Cancelled, DownloadError) as exc:
            self.error = exc  # the partial file stays (unless too slow): the next resumes it
        except Exception as exc:
            partial.unlink(missing_ok=True)  # a full disk must not stay full
            self.error = exc


def _check_file(release: Release, path: Path) -> None:
    check = PayloadCheck(release.payload)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            check.feed(chunk)
    check.finish()
