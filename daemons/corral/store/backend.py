"""The seam between the HTTP layer and where keys live.

`KeysBackend` is all the API layer may use, and both backends implement all of it:
`EmbeddedBackend` (one durable node, `embedded`) and `EtcdBackend` (a gateway over an
etcd v3 cluster, `etcdv3.backend`). Contracts: a write is answered only once it is
durable; a read and a watch never reveal a write that is not yet durable; a refusal
is an `EtcdError`, never another exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from corral.store.errors import EtcdError
from corral.store.event import Event
from corral.store.keys_request import KeysRequest

# A write's completion: its event once durable, or the error that refused it.
Reply = Callable[[Event | EtcdError], None]


class Watch(Protocol):
    """A registered watch. `start_index` is the store index when it began."""

    start_index: int

    async def next(self) -> Event | None:
        """The next event, or None once the watch was closed (server stopping)."""
        ...

    def call_on_event(self, callback: Callable[[Event], None]) -> None:
        """Hand each event to `callback` from inside the write that notifies it, before
        `next` sees it (a long poll answered without waking a task)."""
        ...

    def close(self) -> None: ...


class KeysBackend(Protocol):
    """What a keys backend does: fast and waiting reads, writes with a completion,
    watches, its own life cycle and figures."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Finish in-flight commits, end every watch."""
        ...

    @property
    def ready(self) -> bool: ...

    def read_now(self, request: KeysRequest) -> Event | None:
        """The read answered at once, or None when it must wait (use `read`). Raises
        EtcdError as `read` does."""
        ...

    async def read(self, request: KeysRequest) -> Event: ...

    def submit(self, request: KeysRequest, reply: Reply) -> None:
        """Take a write; `reply` is called on the loop with its outcome once durable.
        Raises EtcdError at once when the backend is stopping."""
        ...

    async def write(self, request: KeysRequest) -> Event:
        """`submit`, awaited: the event, or the EtcdError raised."""
        ...

    async def watch(self, request: KeysRequest) -> tuple[Watch | None, Event | None]:
        """A watch, or at once an event already in the history."""
        ...

    def store_stats(self) -> dict[str, Any]: ...

    @property
    def index(self) -> int: ...
