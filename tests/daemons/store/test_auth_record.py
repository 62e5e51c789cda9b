"""On the embedded backend too, an auth record in the data dir that cannot be read
never turns authentication off: the store refuses to start, with one log line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.store.auth_store import AUTH_KEY
from corral.store.embedded import EmbeddedBackend
from corral.store.keys_request import KeysRequest
from corral.testing import StoreServer

UNREADABLE = {
    "not JSON": "junk{",
    "a list": "[]",
    "a user without a hash": '{"enabled": true, "users": {"root": "x"}, "roles": {}}',
    "enabled not a boolean": '{"enabled": "yes", "users": {}, "roles": {}}',
}


async def _store(data_dir: Path, request: KeysRequest) -> None:
    backend = EmbeddedBackend(data_dir)
    await backend.start()
    try:
        await backend.write(request)
    finally:
        await backend.stop()


def _refusal(data_dir: Path) -> str:
    server = StoreServer(data_dir)
    server.spawn()
    assert server.proc is not None
    try:
        code = server.proc.wait(20)
    finally:
        server.stop()
    log = server.log_text()
    assert code == 1, log
    assert "Traceback" not in log and "authentication is off" not in log, log
    refusals = [line for line in log.splitlines() if "refusing to start" in line]
    assert len(refusals) == 1, log
    return refusals[0]


def test_the_store_refuses_to_start_on_an_unreadable_auth_record(tmp_path: Path) -> None:
    for n, (what, value) in enumerate(UNREADABLE.items()):
        data_dir = tmp_path / f"store-{n}"
        asyncio.run(_store(data_dir, KeysRequest("PUT", AUTH_KEY, value=value)))
        line = _refusal(data_dir)
        assert "the auth record /_corral_auth" in line and "unreadable" in line, (what, line)


def test_the_store_refuses_to_start_on_an_auth_record_that_is_a_directory(
    tmp_path: Path,
) -> None:
    asyncio.run(_store(tmp_path / "store", KeysRequest("PUT", AUTH_KEY, dir=True)))
    assert "a directory" in _refusal(tmp_path / "store")
