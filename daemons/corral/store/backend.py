"""The seam between the HTTP layer and where keys live.

`KeysBackend` is all the API layer may use, and both backends implement all of it:
`EmbeddedBackend` (one durable node, `embedded`) and `EtcdBackend` (a gateway over an
etcd v3 cluster, `etcdv3.backend`). Contracts: a write is answered only once it is
durable; a read and a watch never reveal a write that is not yet durable; a refusal
is an `EtcdError`, never another exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from corral.etcd_errors import EtcdError
from corral.store.event import Event
from corral.store.keys_request import KeysRequest

# A write's completion: its event once durable, or the error that refused it.
Reply = Callable[[Event | EtcdError], None]


@dataclass(frozen=True, slots=True)
class Figures:
    """What a backend has counted since the process started, for /metrics."""

    stats: dict[str, int]  # etcd's v2 store stats (/v2/stats/store), counts only
    recursive_gets: int  # of the gets in `stats`, those with recursive=true
    watch_requests: int  # watches asked for, answered from the history or registered
    watchers: int  # registered now
    streams: int  # of `watchers`, those of stream=true requests
    keys: int  # nodes in the tree, directories included
    log_bytes: int | None = None  # commit log bytes not yet folded (embedded only)


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

    def figures(self) -> Figures:
        """Counts and sizes for /metrics, read when scraped."""
        ...

    @property
    def index(self) -> int: ...
