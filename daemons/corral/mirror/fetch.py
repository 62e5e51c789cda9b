"""Getting files from a mirror: over HTTP, or from a directory (an unpacked bundle).

Both implement `Fetcher`. A fetcher only moves bytes; it never decides what to trust.
Invariants:
- `document()` never reads more than `limit` bytes (a hostile mirror cannot make us
  buffer endless data); `open_range()` hands back a stream the caller reads with its
  own bound.
- A missing file is `NotFound`; any other transport failure is `DownloadError`.
- Over HTTP every transfer keeps a `Pace` (`corral.mirror.pace`): a transfer slower
  than the minimum average rate after the grace period, or not done by its deadline
  (from the declared size, or the document cap), status line and headers included,
  is abandoned with `SlowRetrieval`. `HttpFetcher(url, pace=Pace(min_rate=...,
  grace=..., document_deadline=...))` sets it; the default suits a LAN or a WAN.
"""

from __future__ import annotations

import http.client
import io
import re
import urllib.parse
from pathlib import Path
from typing import Protocol

from corral.mirror.pace import DEFAULT_PACE, Pace, Watchdog
from corral.trust import DownloadError, MalformedDocument, SlowRetrieval

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class NotFound(DownloadError):
    """The mirror has no such file (HTTP 404, or no such file in the directory)."""


class Stream(Protocol):
    """The bytes of one file from an offset, read in pieces."""
    start: int  # the offset the bytes begin at (0 when a Range was not honoured)

    def read(self, size: int) -> bytes: ...

    def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` (fewer bytes only at the end of the stream); 0 at the end."""
        ...

    def close(self) -> None: ...


class Fetcher(Protocol):
    """Where a mirror's files come from: an HTTP server or a directory."""

    def document(self, path: str, limit: int) -> bytes:
        """A whole small file; more than `limit` bytes is refused."""
        ...

    def open_range(self, path: str, offset: int, size: int) -> Stream:
        """A stream of the file from `offset` (or from 0 if the source cannot seek);
        `size` is the file's declared size, which sets the transfer's deadline."""
        ...


def _too_big(path: str, limit: int) -> MalformedDocument:
    return MalformedDocument(f"{path}: larger than {limit} bytes, refused")


class _FileStream:
    def __init__(self, f: io.BufferedReader, start: int) -> None:
        self.f = f
        self.start = start

    def read(self, size: int) -> bytes:
        return self.f.read(size)

    def readinto(self, buffer: memoryview) -> int:
        return self.f.readinto(buffer)

    def close(self) -> None:
        self.f.close()


class DirectoryFetcher:
    """Files of a mirror directory on a local file system."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()

    def _path(self, path: str) -> Path:
        target = (self.base / path).resolve()
        if not target.is_relative_to(self.base):
            raise NotFound(f"{path}: outside the mirror")
        if not target.is_file():
            raise NotFound(f"{path}: not found in {self.base}")
        return target

    def document(self, path: str, limit: int) -> bytes:
        with open(self._path(path), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise _too_big(path, limit)
        return data

    def open_range(self, path: str, offset: int, size: int) -> Stream:
        f = open(self._path(path), "rb")  # noqa: SIM115 - closed by the caller via Stream
        f.seek(offset)
        return _FileStream(f, offset)


SLICE = 64 << 10  # bytes per read while filling a buffer: the watchdog sees progress


class _HttpStream:
    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 start: int, watchdog: Watchdog, url: str) -> None:
        self.conn = conn
        self.resp = resp
        self.start = start
        self.watchdog = watchdog
        self.url = url

    def _failed(self, error: Exception | None) -> DownloadError:
        if self.watchdog.reason is not None:
            return SlowRetrieval(f"{self.url}: too slow, abandoned: {self.watchdog.reason}")
        return DownloadError(f"transfer interrupted: {error}")

    def read(self, size: int) -> bytes:
        try:
            data = self.resp.read1(size) if size else b""
        except (OSError, http.client.HTTPException) as e:
            raise self._failed(e) from None
        self.watchdog.received += len(data)
        if self.watchdog.reason is not None:
            raise self._failed(None)
        return data

    def readinto(self, buffer: memoryview) -> int:
        # straight from the socket into the caller's buffer (no bytes object per chunk),
        # a slice at a time so that the watchdog sees the bytes arrive
        filled = 0
        while filled < len(buffer):
            try:
                got = self.resp.readinto(buffer[filled : filled + SLICE])
            except (OSError, http.client.HTTPException) as e:
                raise self._failed(e) from None
            self.watchdog.received += got
            if self.watchdog.reason is not None:
                raise self._failed(None)
            if not got:
                break
            filled += got
        return filled

    def close(self) -> None:
        self.conn.close()
        self.watchdog.__exit__()


class HttpFetcher:
    """Files under a base URL (http:// only: the mirror's trust is in signatures).

    `timeout` bounds each socket operation; `pace` bounds each whole transfer."""

    def __init__(self, base_url: str, timeout: float = 30.0, pace: Pace = DEFAULT_PACE) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.parsed = parsed
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.pace = pace
        self.base_url = base_url.rstrip("/")

    def _failure(self, path: str, error: Exception, watchdog: Watchdog) -> DownloadError:
        if watchdog.reason is not None:
            return SlowRetrieval(f"{self.base_url}/{path}: too slow, abandoned: {watchdog.reason}")
        return DownloadError(f"{self.base_url}/{path}: {error}")

    def _request(
        self, path: str, headers: dict[str, str], watchdog: Watchdog
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        cls = (
            http.client.HTTPSConnection if self.parsed.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = cls(self.parsed.hostname or "", self.parsed.port, timeout=self.timeout)
        url = f"{self.prefix}/{urllib.parse.quote(path)}"
        try:
            conn.connect()
            watchdog.watch(conn.sock)
            conn.request("GET", url, headers={"Accept-Encoding": "identity", **headers})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._failure(path, e, watchdog) from None
        if resp.status == 404:
            conn.close()
            raise NotFound(f"{self.base_url}/{path}: not found (HTTP 404)")
        if resp.status not in (200, 206):
            conn.close()
            raise DownloadError(f"{self.base_url}/{path}: HTTP {resp.status} {resp.reason}")
        return conn, resp

    def document(self, path: str, limit: int) -> bytes:
        with Watchdog(self.pace, None) as watchdog:
            conn, resp = self._request(path, {}, watchdog)
            try:
                data = resp.read(limit + 1)
            except (OSError, http.client.HTTPException) as e:
                raise self._failure(path, e, watchdog) from None
            finally:
                conn.close()
            if watchdog.reason is not None:  # the shut socket may have read as an end
                raise self._failure(path, EOFError(), watchdog)
        if len(data) > limit:
            raise _too_big(path, limit)
        return data

    def open_range(self, path: str, offset: int, size: int) -> Stream:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        watchdog = Watchdog(self.pace, size).__enter__()
        try:
            conn, resp = self._request(path, headers, watchdog)
        except BaseException:
            watchdog.__exit__()
            raise
        start = 0
        if resp.status == 206:
            match = _CONTENT_RANGE.match(resp.getheader("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                conn.close()
                watchdog.__exit__()
                raise DownloadError(f"{self.base_url}/{path}: unusable Content-Range")
            start = offset
        return _HttpStream(conn, resp, start, watchdog, f"{self.base_url}/{path}")


def fetcher_for(source: str, pace: Pace = DEFAULT_PACE) -> Fetcher:
    """An HTTP fetcher for a URL (bounded by `pace`), a directory fetcher for a path."""
    if "://" in source:
        return HttpFetcher(source, pace=pace)
    return DirectoryFetcher(Path(source))
