"""A keys request (etcd's pb.Request for v2) and how it maps onto store actions.

The mapping is etcd's applierV2: PUT is set, create (prevExist=false), update
(prevExist=true) or compareAndSwap (prevIndex/prevValue); POST creates an in-order key;
DELETE is delete or compareAndDelete. Backends share it so they agree on semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.store.event import Event
from corral.store.node import NS
from corral.store.store import Store

WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})


@dataclass(slots=True)
class KeysRequest:
    """A v2 keys request after parsing, as both backends take it."""

    method: str
    path: str
    value: str = ""
    dir: bool = False
    prev_value: str = ""
    prev_index: int = 0
    prev_exist: bool | None = None
    wait: bool = False
    wait_index: int = 0
    recursive: bool = False
    sorted: bool = False
    quorum: bool = False
    stream: bool = False
    ttl: int | None = None
    refresh: bool = False

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


def expire_at(ttl: int | None, now_ns: int) -> int | None:
    return None if ttl is None else now_ns + ttl * NS


def apply_write(store: Store, r: KeysRequest) -> Event:
    """Perform a PUT, POST or DELETE on `store`; raises EtcdError as etcd would."""
    expire = expire_at(r.ttl, store.clock())
    if r.method == "POST":
        return store.create(r.path, r.dir, r.value, True, expire)
    if r.method == "DELETE":
        if r.prev_index > 0 or r.prev_value:
            return store.compare_and_delete(r.path, r.prev_value, r.prev_index)
        return store.delete(r.path, r.dir, r.recursive)
    if r.prev_exist is not None:
        if r.prev_exist:
            if r.prev_index == 0 and not r.prev_value:
                return store.update(r.path, r.value, expire, r.refresh)
            return store.compare_and_swap(
                r.path, r.prev_value, r.prev_index, r.value, expire, r.refresh
            )
        return store.create(r.path, r.dir, r.value, False, expire)
    if r.prev_index > 0 or r.prev_value:
        return store.compare_and_swap(
            r.path, r.prev_value, r.prev_index, r.value, expire, r.refresh
        )
    return store.set(r.path, r.dir, r.value, expire, r.refresh)


def write_action(r: KeysRequest) -> str:
    """The store action of a PUT, POST or DELETE, as `apply_write` maps it (etcd's
    v2store name: set, create, update, compareAndSwap, delete, compareAndDelete)."""
    if r.method == "POST":
        return "create"
    if r.method == "DELETE":
        return "compareAndDelete" if r.prev_index > 0 or r.prev_value else "delete"
    if r.prev_exist is not None:
        if not r.prev_exist:
            return "create"
        return "update" if r.prev_index == 0 and not r.prev_value else "compareAndSwap"
    return "compareAndSwap" if r.prev_index > 0 or r.prev_value else "set"


def apply_read(store: Store, r: KeysRequest) -> Event:
    return store.get(r.path, r.recursive, r.sorted)
