"""What a v2 write does, planned as one etcd v3 transaction (pure: no I/O, no clock).

The backend reads a `View` (the target key, every ancestor marker, whether the target
has children, the newest op record's revision) in one linearizable transaction at revision
R, and `plan_write` decides exactly as etcd's v2store would: the same error (code,
cause, index R) or a `Plan`. The plan's compares say "nothing I read has changed"
(mod_revision of every key read, 0 for a key that was absent), so the transaction
either applies at the state it was planned on or fails and is planned again. Errors
are never committed, so a refused write takes no index, as in v2. A plan becomes one
nested transaction of a batch (`batch`), at a position that sets its index.

Leases: a key given a TTL gets a lease of its own; a key without one inherits the
lease of the nearest directory above it that has one, so a directory's expiry takes
its whole subtree in one revision, as v2's does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from corral.etcd_errors import (
    DirNotEmpty,
    KeyNotFound,
    NodeExist,
    NotDir,
    NotFile,
    RootReadOnly,
    TestFailed,
)
from corral.store import event as ev
from corral.store.etcdv3.layout import (
    CREATED_AT_MOD,
    OP_END,
    OP_KEY,
    Kv,
    ancestors,
    b64,
    encode_op,
    encode_value,
    op_key,
    prefix_end,
    v3_key,
    v3_prefix,
)
from corral.store.keys_request import KeysRequest
from corral.store.node import NS, Node, render, ttl_fields
from corral.store.store import clean_path

NEW_LEASE = -1  # placeholder for the lease granted for this write
Range = tuple[bytes, bytes]  # etcd's key range [start, end)


@dataclass(slots=True)
class View:
    """What the planner may look at: the store as of `revision`."""

    revision: int
    ancestors: dict[str, Kv | None]
    target: Kv | None
    has_children: bool
    op_revision: int
    offset: int = 0  # the v2 index of the store as of `revision`, minus `revision`

    @property
    def index(self) -> int:
        return self.revision + self.offset


@dataclass(slots=True)
class Put:
    """One key a planned write puts into etcd."""

    path: str
    is_dir: bool
    value: str
    expire_ns: int
    lease: int  # 0, an existing lease, or NEW_LEASE
    created: str = ""  # see layout: "", CREATED_AT_MOD or a number
    modified_override: int = 0


@dataclass
class Plan:
    """A v2 write planned as one guarded etcd transaction, and the event it answers."""

    action: str
    node: dict[str, Any]  # the event's node without its indexes
    prev: dict[str, Any] | None
    created: int  # 0: created by this write's revision
    refresh: bool = False
    puts: list[Put] = field(default_factory=list)
    deletes: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, range_end)
    compares: list[dict[str, Any]] = field(default_factory=list)
    ttl: int | None = None  # grant a lease of this many seconds (NEW_LEASE)
    revoke: int = 0  # a lease to revoke once committed (the key's old own lease)
    name_from_revision: bool = False  # an in-order key, named after its index

    def nested(self, write_id: str, lease: int, position: int, delta: int) -> dict[str, Any]:
        """This write as the nested transaction at `position` of a batch whose writes'
        indexes are revision + `delta` + position (JSON gateway form)."""
        delta += position
        record = encode_op(
            self.action, self.node, self.prev, self.created, self.refresh, write_id, delta
        )
        return {"request_txn": self.txn(write_id, lease, record, op_key(position), delta)}

    def txn(
        self, write_id: str, lease: int, op_record: bytes, op: bytes = OP_KEY, delta: int = 0
    ) -> dict[str, Any]:
        """The v3 transaction body (JSON gateway form)."""
        success: list[dict[str, Any]] = []
        for p in self.puts:
            value = encode_value(
                p.is_dir, p.value, p.expire_ns, write_id, p.created, p.modified_override, delta
            )
            put: dict[str, Any] = {"key": b64(v3_key(p.path)), "value": b64(value)}
            chosen = lease if p.lease == NEW_LEASE else p.lease
            if chosen:
                put["lease"] = str(chosen)
            success.append({"request_put": put})
        for key, end in self.deletes:
            delete = {"key": b64(key)}
            if end:
                delete["range_end"] = b64(end)
            success.append({"request_delete_range": delete})
        success.append({"request_put": {"key": b64(op), "value": b64(op_record)}})
        return {"compare": self.compares, "success": success}

    def footprint(self) -> tuple[list[Range], list[Range]]:
        """(what this write reads: its compares, what it changes), as key ranges
        [start, end): two writes commute, and may share a batch, when neither changes
        what the other reads or changes."""
        reads = []
        for c in self.compares:
            key = base64.b64decode(c["key"])
            end = base64.b64decode(c["range_end"]) if "range_end" in c else key + b"\0"
            reads.append((key, end))
        changes = [(v3_key(p.path), v3_key(p.path) + b"\0") for p in self.puts]
        changes += [(key, end or key + b"\0") for key, end in self.deletes]
        return reads, changes


def op_unchanged_since(op_revision: int) -> dict[str, Any]:
    """The compare "no op record was written after `op_revision`"."""
    return {
        "key": b64(OP_KEY),
        "range_end": b64(OP_END),
        "target": "MOD",
        "result": "LESS",
        "mod_revision": str(op_revision + 1),
    }


def read_set(r: KeysRequest) -> tuple[str, list[str], bool]:
    """(target path, ancestor paths, whether to look for children) a write needs.
    For POST the target is the directory the in-order key goes in."""
    path = clean_path(r.path)
    if r.method == "POST":
        above = ancestors(path) + ([path] if path != "/" else [])
        return path, above, False
    return path, ancestors(path), r.method == "DELETE"


def _mod_equal(path: str, revision: int) -> dict[str, Any]:
    return {
        "key": b64(v3_key(path)),
        "target": "MOD",
        "result": "EQUAL",
        "mod_revision": str(revision),
    }


def _compares(view: View) -> list[dict[str, Any]]:
    return [_mod_equal(p, kv.mod_revision if kv else 0) for p, kv in view.ancestors.items()]


class Planner:
    """Plans one write on one view; `now_ns` renders TTLs as v2 does at apply time."""

    def __init__(self, view: View, now_ns: int) -> None:
        self.view = view
        self.now = now_ns
        self.cur = view.index  # the index errors carry
        self.nxt = view.revision + 1  # the revision this write can take at the earliest

    # -- the tree as v2 sees it ------------------------------------------------------

    def lookup(self, path: str) -> Kv | None:
        """The node at `path` (None for the root), or etcd's error for walking to it."""
        for a in ancestors(path):
            kv = self.view.ancestors.get(a)
            if kv is None:
                raise KeyNotFound(a, self.cur)
            if not kv.is_dir:
                raise NotDir(a, self.cur)
        if path == "/":
            return None
        if self.view.target is None:
            raise KeyNotFound(path, self.cur)
        return self.view.target

    def make_dirs(self, path: str, plan: Plan) -> int:
        """Check the directories above `path`, plan the missing ones; returns the
        lease the new node inherits (0: none)."""
        inherited = 0
        missing = False
        for a in ancestors(path):
            kv = self.view.ancestors.get(a)
            if kv is None or missing:
                missing = True
                plan.puts.append(Put(a, True, "", 0, inherited))
                continue
            if not kv.is_dir:
                raise NotDir(a, self.cur)
            if kv.lease:
                inherited = kv.lease
        return inherited

    def _expire(self, ttl: int | None) -> int:
        return 0 if ttl is None else self.now + ttl * NS

    def _node(self, path: str, is_dir: bool, value: str, expire_ns: int) -> dict[str, Any]:
        node: dict[str, Any] = {"key": path}
        if is_dir:
            node["dir"] = True
        else:
            node["value"] = value
        ttl_fields(Node(path, value, None, 0, 0, expire_ns, None), self.now, node)
        return node

    def _prev(self, kv: Kv) -> dict[str, Any]:
        return render(kv.node(), False, False, self.now)

    def _lease(self, ttl: int | None, inherited: int, plan: Plan) -> int:
        if ttl is None:
            return inherited
        plan.ttl = ttl
        return NEW_LEASE

    def _drop_own_lease(self, kv: Kv, plan: Plan) -> None:
        """A file's own lease is revoked once the file no longer uses it."""
        if not kv.is_dir and kv.expire_ns and kv.lease:
            plan.revoke = kv.lease

    # -- the actions -----------------------------------------------------------------

    def create(self, r: KeysRequest, unique: bool, replace: bool, action: str) -> Plan:
        path = clean_path(r.path)
        if unique:  # named after its index: at position 0 of a batch right after the view
            path = clean_path(f"{path}/{self.view.index + 1:020d}")
        if path == "/":
            raise RootReadOnly("/", self.cur)
        value = "" if r.dir else r.value
        plan = Plan(action, {}, None, 0, compares=_compares(self.view))
        inherited = self.make_dirs(path, plan)
        old = None if unique else self.view.target
        if old is not None:
            if not replace:
                raise NodeExist(path, self.cur)
            if old.is_dir:
                raise NotFile(path, self.cur)
            plan.prev = self._prev(old)
            self._drop_own_lease(old, plan)
        if not unique:
            target = self.view.target
            plan.compares.append(_mod_equal(path, target.mod_revision if target else 0))
        else:
            plan.name_from_revision = True
            plan.compares.append(op_unchanged_since(self.view.op_revision))
        expire = self._expire(r.ttl)
        lease = self._lease(r.ttl, inherited, plan)
        # v2 makes a new node even where the v3 key lives on
        created = CREATED_AT_MOD if old is not None else ""
        plan.puts.append(Put(path, r.dir, value, expire, lease, created))
        plan.node = self._node(path, r.dir, value, expire)
        return plan

    def set(self, r: KeysRequest) -> Plan:
        if r.refresh:
            kv = self.lookup(clean_path(r.path))
            plan = self.create(
                KeysRequest("PUT", r.path, kv.value if kv else "", r.dir, ttl=r.ttl),
                False, True, ev.SET,
            )  # fmt: skip
            plan.refresh = True
            return plan
        return self.create(r, False, True, ev.SET)

    def _existing(self, r: KeysRequest) -> tuple[str, Kv]:
        """The key a write on an existing key acts on, with its node; the root is
        read-only."""
        path = clean_path(r.path)
        if path == "/":
            raise RootReadOnly("/", self.cur)
        kv = self.lookup(path)
        assert kv is not None
        return path, kv

    def update(self, r: KeysRequest) -> Plan:
        path, kv = self._existing(r)
        if kv.is_dir and r.value:
            raise NotFile(path, self.cur)
        return self._rewrite(kv, ev.UPDATE, r)

    def compare_and_swap(self, r: KeysRequest) -> Plan:
        path, kv = self._existing(r)
        if kv.is_dir:
            raise NotFile(path, self.cur)
        self._compare(kv, r)
        return self._rewrite(kv, ev.COMPARE_AND_SWAP, r)

    def _compare(self, kv: Kv, r: KeysRequest) -> None:
        index_ok = r.prev_index == 0 or kv.modified == r.prev_index
        value_ok = r.prev_value == "" or kv.value == r.prev_value
        if index_ok and value_ok:
            return
        if index_ok:
            cause = f"[{r.prev_value} != {kv.value}]"
        elif value_ok:
            cause = f"[{r.prev_index} != {kv.modified}]"
        else:
            cause = f"[{r.prev_value} != {kv.value}] [{r.prev_index} != {kv.modified}]"
        raise TestFailed(cause, self.cur)

    def _rewrite(self, kv: Kv, action: str, r: KeysRequest) -> Plan:
        """update and compareAndSwap: same node, new value and TTL (none: permanent)."""
        value = kv.value if (r.refresh or kv.is_dir) else r.value
        plan = Plan(action, {}, self._prev(kv), kv.created, refresh=r.refresh)
        plan.compares = [*_compares(self.view), _mod_equal(kv.path, kv.mod_revision)]
        inherited = 0
        for a in ancestors(kv.path):
            above = self.view.ancestors.get(a)
            if above is not None and above.lease:
                inherited = above.lease
        expire = self._expire(r.ttl)
        lease = self._lease(r.ttl, inherited, plan)
        self._drop_own_lease(kv, plan)
        # v2 leaves a directory's modifiedIndex alone when its TTL changes
        override = kv.modified if kv.is_dir else 0
        plan.puts.append(Put(kv.path, kv.is_dir, value, expire, lease, str(kv.created), override))
        plan.node = self._node(kv.path, kv.is_dir, value, expire)
        return plan

    def delete(self, r: KeysRequest) -> Plan:
        path, kv = self._existing(r)
        if kv.is_dir:
            if not (r.dir or r.recursive):
                raise NotFile(path, self.cur)
            if self.view.has_children and not r.recursive:
                raise DirNotEmpty(path, self.cur)
        return self._remove(kv, ev.DELETE)

    def compare_and_delete(self, r: KeysRequest) -> Plan:
        path = clean_path(r.path)
        if path == "/":  # etcd's lookup of the root finds a directory
            raise NotFile("/", self.cur)
        kv = self.lookup(path)
        assert kv is not None
        if kv.is_dir:
            raise NotFile(path, self.cur)
        self._compare(kv, r)
        return self._remove(kv, ev.COMPARE_AND_DELETE)

    def _remove(self, kv: Kv, action: str) -> Plan:
        node: dict[str, Any] = {"key": kv.path}
        if kv.is_dir and action == ev.DELETE:
            node["dir"] = True
        plan = Plan(action, node, self._prev(kv), kv.created)
        plan.compares = [*_compares(self.view), _mod_equal(kv.path, kv.mod_revision)]
        plan.deletes.append((v3_key(kv.path), b""))
        # A file has no children in v2, but keys put under one by something else would
        # outlive it, and show up again under a directory made there later.
        prefix = v3_prefix(kv.path)
        plan.deletes.append((prefix, prefix_end(prefix)))
        if kv.is_dir and not self.view.has_children:
            # still empty: no key under it was created after the read
            plan.compares.append(
                {
                    "key": b64(prefix),
                    "range_end": b64(prefix_end(prefix)),
                    "target": "CREATE",
                    "result": "LESS",
                    "create_revision": str(self.nxt),
                }
            )
        self._drop_own_lease(kv, plan)
        return plan


def plan_write(r: KeysRequest, view: View, now_ns: int) -> Plan:
    """The plan for write `r` on `view`, or the EtcdError etcd's v2 would answer."""
    p = Planner(view, now_ns)
    if r.method == "POST":
        return p.create(r, True, False, ev.CREATE)
    if r.method == "DELETE":
        if r.prev_index > 0 or r.prev_value:
            return p.compare_and_delete(r)
        return p.delete(r)
    if r.prev_exist is not None:
        if r.prev_exist:
            if r.prev_index == 0 and not r.prev_value:
                return p.update(r)
            return p.compare_and_swap(r)
        return p.create(r, False, False, ev.CREATE)
    if r.prev_index > 0 or r.prev_value:
        return p.compare_and_swap(r)
    return p.set(r)
