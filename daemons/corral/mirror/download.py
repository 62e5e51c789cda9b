"""Downloading a payload into a partial file: resumable, bounded, verified.

Invariants:
- never more than the declared size plus one byte is read (endless data stops there
  with PayloadTooLarge, and the partial file is dropped);
- a transfer that ends early keeps the partial file and raises DownloadError, so the
  next attempt resumes with a Range request from where it stopped; one abandoned as
  too slow (SlowRetrieval) drops it: a drip must not be able to add up over attempts;
- bytes already on disk are hashed again before resuming: a partial file is trusted no
  more than the network;
- the file is complete, on disk (fsync) and matches the declared sha256 when this
  returns; the receive loop itself is in `corral.mirror.receive`.
"""

from __future__ import annotations

from pathlib import Path

from corral.mirror.appendfile import AppendFile
from corral.mirror.fetch import Fetcher
from corral.mirror.progress import Progress
from corral.mirror.receive import receive
from corral.trust import (
    DownloadError,
    Payload,
    PayloadCheck,
    PayloadHashMismatch,
    PayloadTooLarge,
    SlowRetrieval,
)

CHUNK = 1 << 20


def _rehash(partial: Path, check: PayloadCheck) -> None:
    with open(partial, "rb") as f:
        while chunk := f.read(CHUNK):
            check.feed(chunk)


def _receive_rest(
    fetcher: Fetcher, payload: Payload, partial: Path, check: PayloadCheck,
    progress: Progress | None,
) -> PayloadCheck:
    """The check after the rest of the payload was appended (a new one if the server
    sent the whole file again)."""
    if not check.remaining:
        return check
    stream = fetcher.open_range(payload.path, check.received, payload.size)
    try:
        if stream.start != check.received:  # Range not honoured: start again
            check = PayloadCheck(payload)
            partial.write_bytes(b"")
        with AppendFile(partial) as file:
            receive(stream, file, check, progress)
            file.sync()  # durable before anyone renames it into view
    finally:
        stream.close()
    return check


def download_payload(
    fetcher: Fetcher,
    payload: Payload,
    partial: Path,
    progress: Progress | None = None,
) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    check = PayloadCheck(payload)
    if partial.exists():
        if partial.stat().st_size > payload.size:
            partial.unlink()
        else:
            _rehash(partial, check)
    if progress:
        progress.advance(check.received)
    try:
        check = _receive_rest(fetcher, payload, partial, check, progress)
    except (PayloadTooLarge, SlowRetrieval):
        partial.unlink(missing_ok=True)
        raise
    if check.received < payload.size:
        raise DownloadError(
            f"{payload.path}: transfer ended at {check.received} of {payload.size} bytes;"
            " run again to resume"
        )
    try:
        check.finish()
    except PayloadHashMismatch:
        partial.unlink(missing_ok=True)
        raise
