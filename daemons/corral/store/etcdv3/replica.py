"""A gateway's copy of every Corral key, kept current by its watch feed (pure).

etcd's JSON gateway serves about a thousand requests a second here, a member's own
v2 API several times that, so a gateway that asked etcd for every GET would be the
bottleneck. It reads its replica instead: a plain GET at once (once the feed has
applied what this gateway already answered), a `quorum=true` GET once the feed has
applied the newest v2 write, whose revision one small request shared by every quorum
read waiting at that moment tells. Writes plan on the
replica and let their compares catch a stale view (then read etcd and plan again).

Invariant: `kvs` and `children` equal etcd's keys under Corral's prefix as of
`revision`, `op_revision` is the revision of the newest op record up to then, and
`offset` the index delta after it (`layout`): the store's v2 index is
`revision + offset`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from corral.store.etcdv3.layout import (
    Kv,
    ancestors,
    decode_kv,
    is_node_key,
    is_op_key,
    unb64,
    v2_path,
)
from corral.store.etcdv3.plan import View, read_set
from corral.store.etcdv3.untrusted import REPORTS, Malformed
from corral.store.keys_request import KeysRequest


def node_kv(kv: dict[str, Any]) -> Kv | None:
    """etcd's `kv` as a node, or None (reported) for a key that names no v2 node."""
    try:
        return decode_kv(kv)
    except Malformed as exc:
        REPORTS.skipped("key", f"{exc} (revision {kv.get('mod_revision')}): left out")
        return None


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class Replica:
    """The gateway's in-memory copy of every Corral key in etcd, at one revision."""

    def __init__(self) -> None:
        self.kvs: dict[str, Kv] = {}
        self.children: dict[str, set[str]] = {}
        self.revision = 0
        self.op_revision = 0
        self.offset = 0

    @property
    def index(self) -> int:
        return self.revision + self.offset

    def load(self, kvs: list[Kv], revision: int, op_revision: int, offset: int) -> None:
        self.kvs.clear()
        self.children.clear()
        for kv in kvs:
            self.put(kv)
        self.revision = revision
        self.op_revision = op_revision
        self.offset = offset

    def apply(self, revision: int, events: list[dict[str, Any]], offset: int | None) -> None:
        """One revision's v3 events (from the watch feed); `offset`: the index delta
        after it, if it wrote op records."""
        if offset is not None:
            self.op_revision, self.offset = revision, offset
        for e in events:
            kv = e.get("kv", {})
            key = unb64(kv.get("key"))
            deleted = e.get("type") == "DELETE"
            if is_op_key(key):
                continue
            if is_node_key(key):
                if deleted:
                    with contextlib.suppress(Malformed):  # never held
                        self.delete(v2_path(key))
                else:
                    node = node_kv(kv)
                    if node is not None:
                        self.put(node)
        self.revision = revision

    def put(self, kv: Kv) -> None:
        if kv.path not in self.kvs:
            self.children.setdefault(_parent(kv.path), set()).add(kv.path)
        self.kvs[kv.path] = kv

    def delete(self, path: str) -> None:
        if self.kvs.pop(path, None) is None:
            return
        siblings = self.children.get(_parent(path))
        if siblings is not None:
            siblings.discard(path)
            if not siblings:
                del self.children[_parent(path)]

    def get(self, path: str) -> Kv | None:
        return self.kvs.get(path)

    def descendants(self, path: str, recursive: bool) -> list[Kv]:
        """The keys below `path`: its children, or (recursive) the whole subtree."""
        out: list[Kv] = []
        stack = [path]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                kv = self.kvs.get(child)
                if kv is None:
                    continue
                out.append(kv)
                if recursive and kv.is_dir:
                    stack.append(child)
        return out

    def view(self, request: KeysRequest) -> View:
        """What a write would read from etcd, as this replica last saw it."""
        target, above, children = read_set(request)
        return View(
            revision=self.revision,
            ancestors={a: self.kvs.get(a) for a in above},
            target=self.kvs.get(target) if target != "/" else None,
            has_children=children and bool(self.children.get(target)),
            op_revision=self.op_revision,
            offset=self.offset,
        )

    def ancestors_of(self, path: str) -> dict[str, Kv | None]:
        return {a: self.kvs.get(a) for a in ancestors(path)}
