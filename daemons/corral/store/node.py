"""A node of the key tree and its rendering as etcd's JSON `node` object.

Invariants: a directory has `children` (a dict, possibly empty), a file has
`children is None` and a `value`. `expire_ns` is 0 for permanent nodes, else the wall
clock time in nanoseconds at which the node expires. A node removed from the tree has
`parent is None` (stale expiry-heap entries rely on this). `body` caches the rendered
answer to a `get` of a permanent file, its `node` object and its bytes (GETs spent a
fifth of their time in json.dumps); whoever changes a node clears it (the store does,
where it journals the change). Both are shared by every answer: never mutated.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

NS = 1_000_000_000


class Node:
    __slots__ = (
        "body", "children", "created", "expire_ns", "modified", "parent", "path", "value",
    )  # fmt: skip

    def __init__(
        self,
        path: str,
        value: str,
        children: dict[str, Node] | None,
        created: int,
        modified: int,
        expire_ns: int,
        parent: Node | None,
    ) -> None:
        self.path = path
        self.value = value
        self.children = children
        self.created = created
        self.modified = modified
        self.expire_ns = expire_ns
        self.parent = parent
        self.body: tuple[dict[str, Any], bytes] | None = None

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def hidden(self) -> bool:
        return self.name.startswith("_")


def format_time(ns: int) -> str:
    """Go's RFC3339Nano in UTC: fraction trimmed of trailing zeros, `Z` suffix."""
    secs, frac = divmod(ns, NS)
    stamp = _dt.datetime.fromtimestamp(secs, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        stamp += "." + f"{frac:09d}".rstrip("0")
    return stamp + "Z"


def ttl_fields(n: Node, now_ns: int, out: dict[str, Any]) -> None:
    """Add `expiration` and `ttl` (whole seconds left, rounded up) for a node with a TTL."""
    if n.expire_ns:
        out["expiration"] = format_time(n.expire_ns)
        left = n.expire_ns - now_ns
        ttl = -((-left) // NS)  # ceiling, as etcd computes it
        if ttl:
            out["ttl"] = ttl


def index_fields(modified: int, created: int, out: dict[str, Any]) -> None:
    if modified:
        out["modifiedIndex"] = modified
    if created:
        out["createdIndex"] = created


def render(n: Node, recursive: bool, sort: bool, now_ns: int) -> dict[str, Any]:
    """etcd's NodeExtern for `n` (field order and omitted empties as etcd's JSON)."""
    out: dict[str, Any] = {}
    if n.path != "/":
        out["key"] = n.path
    if n.children is None:
        out["value"] = n.value
        ttl_fields(n, now_ns, out)
    else:
        out["dir"] = True
        ttl_fields(n, now_ns, out)
        if recursive:
            nodes = list_children(n, True, sort, now_ns)
            if nodes:
                out["nodes"] = nodes
    index_fields(n.modified, n.created, out)
    return out


def list_children(d: Node, recursive: bool, sort: bool, now_ns: int) -> list[dict[str, Any]]:
    """The visible (not hidden) children of directory `d`, rendered."""
    assert d.children is not None
    kids = [c for name, c in d.children.items() if not name.startswith("_")]
    if sort:
        kids.sort(key=lambda c: c.path)
    return [render(c, recursive, sort, now_ns) for c in kids]


def render_get(n: Node, recursive: bool, sort: bool, now_ns: int) -> dict[str, Any]:
    """The node of a `get` event: a directory always lists its children (one level
    unless recursive), as etcd's loadInternalNode does."""
    out: dict[str, Any] = {}
    if n.path != "/":
        out["key"] = n.path
    if n.children is None:
        out["value"] = n.value
        ttl_fields(n, now_ns, out)
    else:
        out["dir"] = True
        ttl_fields(n, now_ns, out)
        nodes = list_children(n, recursive, sort, now_ns)
        if nodes:
            out["nodes"] = nodes
    index_fields(n.modified, n.created, out)
    return out
