"""`serve`: the mirror directory over HTTP, with Range requests and ETags.

aiohttp's FileResponse is used rather than the standard library's http.server: it
already implements Range, If-Range, ETag/If-None-Match and Last-Modified, and sends
files with sendfile(2) from an event loop, which matters for sync throughput. Any
static server works (nginx is tested); this one adds nothing a client depends on.

Invariants: only files under the mirror directory are served, never a hidden path
(the `.corral-mirror` work area, temporary files of atomic writes); documents that
change (`root.json`, `channels.json`, `release.json`) are `no-cache`, everything else
is immutable and says so.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path, PurePosixPath

from aiohttp import web

from corral.mirror.layout import MirrorError

MUTABLE = {"root.json", "channels.json", "release.json"}


def make_app(base: Path) -> web.Application:
    base = base.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        parts = PurePosixPath(rel).parts
        if not parts or any(p.startswith(".") for p in parts):
            raise web.HTTPNotFound()
        path = (base / rel).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise web.HTTPNotFound()
        cache = "no-cache" if parts[-1] in MUTABLE else "public, max-age=31536000, immutable"
        return web.FileResponse(path, headers={"Cache-Control": cache})

    app = web.Application()
    app.router.add_get("/{path:.*}", handle)
    return app


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise MirrorError(f"bad --listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


async def _serve(base: Path, host: str, port: int) -> None:
    runner = web.AppRunner(make_app(base), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise MirrorError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    for address in runner.addresses:
        shown = f"[{address[0]}]" if ":" in address[0] else address[0]
        print(f"serving mirror {base} on http://{shown}:{address[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(base: Path, listen: str) -> None:
    if not (base / "root.json").is_file():
        raise MirrorError(f"{base} is not a mirror (no root.json)")
    host, port = parse_listen(listen)
    asyncio.run(_serve(base, host, port))
    print("stopped", file=sys.stderr)
