"""The seam between the HTTP layer and where keys live.

`KeysBackend` is all the HTTP layer may use: the embedded backend (one durable node)
implements it today; a backend over a real etcd v3 cluster can implement it later
without touching HTTP. Contracts: `write` answers only once the write is durable;
`read` and `watch` never reveal a write that is not yet durable.
"""

from __future__ import annotations

from typing import Any, Protocol

from corral.store.event import Event
from corral.store.keys_request import KeysRequest


class Watch(Protocol):
    """A registered watch. `start_index` is the store index when it began."""

    start_index: int

    async def next(self) -> Event | None:
        """The next event, or None once the watch was closed (server stopping)."""
        ...

    def close(self) -> None: ...


class KeysBackend(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Finish in-flight commits, end every watch."""
        ...

    @property
    def ready(self) -> bool: ...

    async def read(self, request: KeysRequest) -> Event: ...

    async def write(self, request: KeysRequest) -> Event: ...

    async def watch(self, request: KeysRequest) -> tuple[Watch | None, Event | None]:
        """A watch, or at once an event already in the history."""
        ...

    def store_stats(self) -> dict[str, Any]: ...

    @property
    def index(self) -> int: ...
