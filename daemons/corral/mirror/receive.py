"""Receiving a payload stream into a file in one pass: receive, write and hash at once.

Three stages, each on its own thread, passing a few reused page-aligned buffers along:

    receiver (caller) --> writer (AppendFile, O_DIRECT) --> hasher (sha256) --> receiver

The receiver reads into a free buffer (`readinto`: no bytes object per chunk) and
counts it against the declared size before handing it on, so endless data stops at
the declared size plus one byte. Writes with O_DIRECT and hashlib both release the
GIL, so on two cores the three overlap and a sync runs at the pace of the slowest
stage instead of their sum. A buffer returns to the receiver only after it has been
written and hashed, in order.

sha256 on one core bounds a single stream; the chunk size sets the hand-offs and disk
requests per GiB, 4 MiB by measurement (docs/performance.md). Buffers: DEPTH x CHUNK =
16 MiB.

Invariants: bytes are written and hashed exactly once, in the order received; a write
error stops the receiver and is raised; on return (or any error) both threads have
stopped.
"""

from __future__ import annotations

import mmap
import queue
import threading

from corral.mirror.appendfile import AppendFile, aligned_buffer
from corral.mirror.fetch import Stream
from corral.mirror.progress import Progress
from corral.trust import PayloadCheck

CHUNK = 4 << 20  # fewer hand-offs and disk requests (docs/performance.md)
DEPTH = 4  # buffers in flight: one per stage, and one to absorb jitter

Chunk = tuple[mmap.mmap, int] | None  # a buffer and how many of its bytes are data


class _Writer(threading.Thread):
    """Writes chunks in order, then passes them on; after an error it only passes on."""

    def __init__(self, file: AppendFile, after: queue.SimpleQueue[Chunk]) -> None:
        super().__init__(name="payload-write", daemon=True)
        self.file = file
        self.after = after
        self.chunks: queue.SimpleQueue[Chunk] = queue.SimpleQueue()
        self.error: Exception | None = None

    def run(self) -> None:
        while (item := self.chunks.get()) is not None:
            if self.error is None:
                buffer, size = item
                try:
                    with memoryview(buffer) as view:
                        self.file.write(view[:size])
                except Exception as e:  # handed to the receiver, which raises it
                    self.error = e
            self.after.put(item)  # always: the buffer must go round, or the receiver waits
        self.after.put(None)


class _Hasher(threading.Thread):
    def __init__(self, check: PayloadCheck, free: queue.SimpleQueue[mmap.mmap]) -> None:
        super().__init__(name="payload-sha256", daemon=True)
        self.check = check
        self.free = free
        self.chunks: queue.SimpleQueue[Chunk] = queue.SimpleQueue()

    def run(self) -> None:
        while (item := self.chunks.get()) is not None:
            buffer, size = item
            try:
                with memoryview(buffer) as view:
                    self.check.digest(view[:size])
            finally:
                self.free.put(buffer)


def receive(
    stream: Stream, file: AppendFile, check: PayloadCheck, progress: Progress | None
) -> None:
    """Append the stream to `file` until it ends, feeding `check` (PayloadTooLarge stops it)."""
    buffers = [aligned_buffer(CHUNK) for _ in range(DEPTH)]
    free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for buffer in buffers:
        free.put(buffer)
    hasher = _Hasher(check, free)
    writer = _Writer(file, hasher.chunks)
    hasher.start()
    writer.start()
    try:
        while writer.error is None:
            buffer = free.get()
            with memoryview(buffer) as view:
                size = stream.readinto(view[: min(CHUNK, check.remaining + 1)])
            if not size:
                break
            check.count(size)  # before the bytes are kept: endless data stops here
            writer.chunks.put((buffer, size))
            if progress:
                progress.advance(size)
    finally:
        writer.chunks.put(None)
        writer.join()
        hasher.join()
        # the buffers are not closed here: an exception's traceback may still hold a
        # view of one (closing would raise BufferError); they go with the last reference
    if writer.error is not None:
        raise writer.error
