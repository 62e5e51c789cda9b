"""The pure key tree: etcd v2's store semantics with no I/O and an injected clock.

Every method either returns the `Event` etcd would answer or raises `EtcdError`
exactly as etcd's v2store does (same code, cause and index). Invariants:
- `index` rises by one for every write and every expiry, never otherwise;
- `nodes` maps every path in the tree to its node (O(1) lookup);
- `journal` lists, in order, the row changes since the owner last took them
  (`PutRow` or `DeleteRow`), so a durability layer can persist exactly what
  changed; `events` lists the events not yet published to watchers.
Nothing here is visible to clients until the owner says so: the owner decides when a
write is durable and only then answers it and publishes its events.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from corral.etcd_errors import (
    DirNotEmpty,
    EtcdError,
    KeyNotFound,
    NodeExist,
    NotDir,
    NotFile,
    RootReadOnly,
    TestFailed,
)
from corral.store import event as ev
from corral.store.event import Event
from corral.store.expiry import ExpiryHeap
from corral.store.node import Node, index_fields, render, render_get, ttl_fields

Clock = Callable[[], int]
Row = tuple[str, str, bool, int, int, int]  # path, value, is_dir, created, modified, expire_ns


# Journal entries are tuples, so their JSON in the commit log is what it always was
# (`["put", row]`, `["del", path, is_dir]`). Plain tuple subclasses with C-level field
# getters: one is made per changed row on every write, and a NamedTuple's Python
# constructor cost three times as much.


class PutRow(tuple[Literal["put"], Row]):
    """A journal entry: `row` was written. Made as `PutRow(("put", row))`."""

    __slots__ = ()
    if TYPE_CHECKING:

        @property
        def row(self) -> Row: ...

    else:
        row = property(itemgetter(1))

    @property
    def path(self) -> str:
        return self[1][0]


class DeleteRow(tuple[Literal["del"], str, bool]):
    """A journal entry: the row at `path` was removed (and, for a directory, every
    row below it). Made as `DeleteRow(("del", path, is_dir))`."""

    __slots__ = ()
    if TYPE_CHECKING:

        @property
        def path(self) -> str: ...

        @property
        def is_dir(self) -> bool: ...

    else:
        path = property(itemgetter(1))
        is_dir = property(itemgetter(2))


JournalEntry = PutRow | DeleteRow

STAT_NAMES = (
    "getsSuccess", "getsFail", "setsSuccess", "setsFail", "deleteSuccess", "deleteFail",
    "updateSuccess", "updateFail", "createSuccess", "createFail", "compareAndSwapSuccess",
    "compareAndSwapFail", "compareAndDeleteSuccess", "compareAndDeleteFail", "expireCount",
)  # fmt: skip
# Each write action (etcd's v2store name, its metrics' label) and its stats' prefix.
WRITE_STATS = {
    "set": "sets", "create": "create", "update": "update", "compareAndSwap": "compareAndSwap",
    "delete": "delete", "compareAndDelete": "compareAndDelete",
}  # fmt: skip


def clean_path(path: str) -> str:
    """etcd's path.Clean(path.Join("/", p)): absolute, no `.`/`..`/`//`, no trailing `/`."""
    if path[:1] == "/" and path[-1:] != "/" and "//" not in path and "/." not in path:
        return path  # already clean: the common case, and normpath's cost on every GET
    p = posixpath.normpath("/" + path)
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    return p


def _join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name


def _compare_cause(n: Node, prev_value: str, prev_index: int) -> str | None:
    index_ok = prev_index == 0 or n.modified == prev_index
    value_ok = prev_value == "" or n.value == prev_value
    if index_ok and value_ok:
        return None
    if index_ok:
        return f"[{prev_value} != {n.value}]"
    if value_ok:
        return f"[{prev_index} != {n.modified}]"
    return f"[{prev_value} != {n.value}] [{prev_index} != {n.modified}]"


class Store:
    """The key tree with etcd v2 semantics, its index and its journal of changes."""

    def __init__(self, clock: Clock = time.time_ns) -> None:
        self.clock = clock
        self.root = Node("/", "", {}, 0, 0, 0, None)
        self.nodes: dict[str, Node] = {"/": self.root}
        self.index = 0
        self.expiry = ExpiryHeap()
        self.journal: list[JournalEntry] = []
        self.events: list[Event] = []
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.recursive_gets = 0  # of the gets counted in `stats` (etcd's getRecursive)

    # -- reading ---------------------------------------------------------------------

    def get(self, path: str, recursive: bool = False, sort: bool = False) -> Event:
        if recursive:
            self.recursive_gets += 1
        try:
            n = self._lookup(clean_path(path))
        except EtcdError:
            self.stats["getsFail"] += 1
            raise
        self.stats["getsSuccess"] += 1
        cached = n.body
        if cached is not None:  # a permanent file unchanged since it was last rendered
            e = Event(ev.GET, cached[0], None, self.index)
            e.preset_body(cached[1])
            return e
        node, levels = render_get(n, recursive, sort, self.clock())
        e = Event.got(node, levels, self.index)
        if n.children is None and not n.expire_ns:  # no TTL: the answer holds still
            n.body = (e.node, e.to_json())
        return e

    def _lookup(self, path: str) -> Node:
        n = self.nodes.get(path)
        if n is not None:
            return n
        cur = self.root
        for name in path.split("/")[1:]:
            if cur.children is None:
                raise NotDir(cur.path, self.index)
            nxt = cur.children.get(name)
            if nxt is None:
                raise KeyNotFound(_join(cur.path, name), self.index)
            cur = nxt
        return cur

    def next_expiry(self) -> int | None:
        return self.expiry.next_expiry()

    # -- writing ---------------------------------------------------------------------

    def _counted(self, stat: str, fn: Callable[[], Event]) -> Event:
        try:
            e = fn()
        except EtcdError:
            self.stats[stat + "Fail"] += 1
            raise
        self.stats[stat + "Success"] += 1
        self.events.append(e)
        return e

    def create(
        self, path: str, is_dir: bool = False, value: str = "", unique: bool = False,
        expire_ns: int | None = None,
    ) -> Event:  # fmt: skip
        return self._counted(
            "create",
            lambda: self._create(path, is_dir, value, unique, False, expire_ns, ev.CREATE),
        )

    def set(
        self, path: str, is_dir: bool = False, value: str = "", expire_ns: int | None = None,
        refresh: bool = False,
    ) -> Event:  # fmt: skip
        return self._counted("sets", lambda: self._set(path, is_dir, value, expire_ns, refresh))

    def update(
        self, path: str, value: str = "", expire_ns: int | None = None, refresh: bool = False
    ) -> Event:
        return self._counted("update", lambda: self._update(path, value, expire_ns, refresh))

    def compare_and_swap(
        self, path: str, prev_value: str, prev_index: int, value: str,
        expire_ns: int | None = None, refresh: bool = False,
    ) -> Event:  # fmt: skip
        return self._counted(
            "compareAndSwap",
            lambda: self._cas(path, prev_value, prev_index, value, expire_ns, refresh),
        )

    def delete(self, path: str, is_dir: bool = False, recursive: bool = False) -> Event:
        return self._counted("delete", lambda: self._delete(path, is_dir, recursive))

    def compare_and_delete(self, path: str, prev_value: str, prev_index: int) -> Event:
        return self._counted("compareAndDelete", lambda: self._cad(path, prev_value, prev_index))

    def expire(self, now_ns: int | None = None) -> list[Event]:
        """Remove every node whose TTL has passed at `now_ns`; one event each."""
        now = self.clock() if now_ns is None else now_ns
        out: list[Event] = []
        while (n := self.expiry.pop_due(now)) is not None:
            self.index += 1
            node: dict[str, Any] = {"key": n.path}
            if n.is_dir:
                node["dir"] = True
            index_fields(self.index, n.created, node)
            prev = render(n, False, False, now)
            self._remove(n)
            e = Event(ev.EXPIRE, node, prev, self.index)
            self.stats["expireCount"] += 1
            self.events.append(e)
            out.append(e)
        return out

    def _set(
        self, path: str, is_dir: bool, value: str, expire_ns: int | None, refresh: bool
    ) -> Event:
        if refresh:
            value = self._lookup(clean_path(path)).value
        e = self._create(path, is_dir, value, False, True, expire_ns, ev.SET)
        e.refresh = refresh
        return e

    def _create(
        self, path: str, is_dir: bool, value: str, unique: bool, replace: bool,
        expire_ns: int | None, action: str,
    ) -> Event:  # fmt: skip
        cur, nxt = self.index, self.index + 1
        if unique:
            path = f"{path}/{nxt:020d}"
        path = clean_path(path)
        if path == "/":
            raise RootReadOnly("/", cur)
        parent_path, name = path.rsplit("/", 1)
        d = self._make_dirs(parent_path or "/")
        assert d.children is not None
        prev = None
        old = d.children.get(name)
        if old is not None:
            if not replace:
                raise NodeExist(path, cur)
            if old.is_dir:
                raise NotFile(path, cur)
            prev = render(old, False, False, self.clock())
            self._remove(old, journal=False)
        n = Node(path, "" if is_dir else value, {} if is_dir else None, nxt, nxt,
                 expire_ns or 0, d)  # fmt: skip
        d.children[name] = n
        self.nodes[path] = n
        if n.expire_ns:
            self.expiry.push(n)
        self.index = nxt
        self._journal_put(n)
        node: dict[str, Any] = {"key": path}
        if is_dir:
            node["dir"] = True
        else:
            node["value"] = value
        ttl_fields(n, self.clock(), node)
        index_fields(nxt, nxt, node)
        return Event(action, node, prev, nxt)

    def _make_dirs(self, dir_path: str) -> Node:
        """Walk to `dir_path`, creating missing directories (etcd's checkDir)."""
        cur = self.root
        if dir_path == "/":
            return cur
        for name in dir_path.split("/")[1:]:
            assert cur.children is not None
            nxt = cur.children.get(name)
            if nxt is None:
                path = _join(cur.path, name)
                nxt = Node(path, "", {}, self.index + 1, self.index + 1, 0, cur)
                cur.children[name] = nxt
                self.nodes[path] = nxt
                self._journal_put(nxt)
            elif nxt.children is None:
                raise NotDir(nxt.path, self.index)
            cur = nxt
        return cur

    def _update(self, path: str, value: str, expire_ns: int | None, refresh: bool) -> Event:
        path = clean_path(path)
        if path == "/":
            raise RootReadOnly("/", self.index)
        n = self._lookup(path)
        if n.is_dir and value:
            raise NotFile(path, self.index)
        if refresh:
            value = n.value
        nxt = self.index + 1
        now = self.clock()
        prev = render(n, False, False, now)
        if not n.is_dir:  # etcd's node.Write refuses directories: their index stays
            n.value = value
            n.modified = nxt
        self._set_ttl(n, expire_ns)
        node: dict[str, Any] = {"key": path}
        if n.is_dir:
            node["dir"] = True
        else:
            node["value"] = value
        ttl_fields(n, now, node)
        index_fields(nxt, n.created, node)
        self.index = nxt
        self._journal_put(n)
        return Event(ev.UPDATE, node, prev, nxt, refresh)

    def _cas(
        self, path: str, prev_value: str, prev_index: int, value: str,
        expire_ns: int | None, refresh: bool,
    ) -> Event:  # fmt: skip
        path = clean_path(path)
        if path == "/":
            raise RootReadOnly("/", self.index)
        n = self._lookup(path)
        if n.is_dir:
            raise NotFile(path, self.index)
        cause = _compare_cause(n, prev_value, prev_index)
        if cause is not None:
            raise TestFailed(cause, self.index)
        if refresh:
            value = n.value
        self.index += 1
        now = self.clock()
        prev = render(n, False, False, now)
        n.value = value
        n.modified = self.index
        self._set_ttl(n, expire_ns)
        node: dict[str, Any] = {"key": path, "value": value}
        ttl_fields(n, now, node)
        index_fields(self.index, n.created, node)
        self._journal_put(n)
        return Event(ev.COMPARE_AND_SWAP, node, prev, self.index, refresh)

    def _delete(self, path: str, is_dir: bool, recursive: bool) -> Event:
        path = clean_path(path)
        if path == "/":
            raise RootReadOnly("/", self.index)
        n = self._lookup(path)
        if n.children is not None:
            if not (is_dir or recursive):
                raise NotFile(path, self.index)
            if n.children and not recursive:
                raise DirNotEmpty(path, self.index)
        self.index += 1
        prev = render(n, False, False, self.clock())
        node: dict[str, Any] = {"key": path}
        if n.is_dir:
            node["dir"] = True
        index_fields(self.index, n.created, node)
        self._remove(n)
        return Event(ev.DELETE, node, prev, self.index)

    def _cad(self, path: str, prev_value: str, prev_index: int) -> Event:
        path = clean_path(path)
        n = self._lookup(path)
        if n.is_dir:
            raise NotFile(path, self.index)
        cause = _compare_cause(n, prev_value, prev_index)
        if cause is not None:
            raise TestFailed(cause, self.index)
        self.index += 1
        prev = render(n, False, False, self.clock())
        node: dict[str, Any] = {"key": path}
        index_fields(self.index, n.created, node)
        self._remove(n)
        return Event(ev.COMPARE_AND_DELETE, node, prev, self.index)

    # -- tree maintenance ------------------------------------------------------------

    def _set_ttl(self, n: Node, expire_ns: int | None) -> None:
        """etcd's UpdateTTL: no TTL given makes the node permanent."""
        n.expire_ns = expire_ns or 0
        if n.expire_ns:
            self.expiry.push(n)

    def _remove(self, n: Node, journal: bool = True) -> None:
        parent = n.parent
        if parent is not None and parent.children is not None:
            parent.children.pop(n.name, None)
        stack = [n]
        while stack:
            m = stack.pop()
            m.parent = None
            self.nodes.pop(m.path, None)
            if m.children:
                stack.extend(m.children.values())
        if journal:
            self.journal.append(DeleteRow(("del", n.path, n.is_dir)))

    def _journal_put(self, n: Node) -> None:
        n.body = None
        self.journal.append(
            PutRow(("put", (n.path, n.value, n.is_dir, n.created, n.modified, n.expire_ns)))
        )

    def take_journal(self) -> list[JournalEntry]:
        out, self.journal = self.journal, []
        return out

    def take_events(self) -> list[Event]:
        out, self.events = self.events, []
        return out

    # -- recovery --------------------------------------------------------------------

    def load(self, rows: Iterable[Row], index: int) -> int:
        """Rebuild the tree from persisted rows, parents before children (sorted by
        path does that, since a parent's path is a prefix of its children's).

        A row whose parent is missing or a file is left out, and counted in the
        return value: what remains of a deleted directory in a snapshot folded
        before folds kept such deletes (see `disk.latest_changes`)."""
        nodes = self.nodes
        push = self.expiry.push
        orphans = 0
        for path, value, is_dir, created, modified, expire_ns in rows:
            parent_path, name = path.rsplit("/", 1)
            parent = nodes.get(parent_path or "/")
            if parent is None or parent.children is None:
                orphans += 1
                continue
            n = Node(path, value, {} if is_dir else None, created, modified, expire_ns, parent)
            parent.children[name] = n
            nodes[path] = n
            if expire_ns:
                push(n)
        self.index = index
        return orphans

    def replay(self, changes: Iterable[JournalEntry]) -> None:
        """Apply journal entries (as `take_journal` gave them) after `load`: the
        commit log's batches newer than the snapshot."""
        nodes = self.nodes
        for entry in changes:
            if isinstance(entry, DeleteRow):
                old = nodes.get(entry.path)
                if old is not None:
                    self._remove(old, journal=False)
                continue
            path, value, is_dir, created, modified, expire_ns = entry.row
            old = nodes.get(path)
            if old is not None and is_dir and old.is_dir:
                old.created, old.modified, old.expire_ns = created, modified, expire_ns
                if expire_ns:
                    self.expiry.push(old)
                continue
            if old is not None:
                self._remove(old, journal=False)
            parent_path, name = path.rsplit("/", 1)
            parent = nodes[parent_path or "/"]
            n = Node(path, value, {} if is_dir else None, created, modified, expire_ns, parent)
            parent.children[name] = n  # type: ignore[index]
            nodes[path] = n
            if expire_ns:
                self.expiry.push(n)
