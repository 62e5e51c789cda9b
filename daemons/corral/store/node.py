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
UNLIMITED = 1 << 62  # levels of listing: all of them


class Node:
    """A key or directory of the tree, with its parent and (for a directory) children."""

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


def _fields(n: Node, now_ns: int, nodes: list[dict[str, Any]] | None) -> dict[str, Any]:
    """etcd's NodeExtern for `n` alone (field order and omitted empties as etcd's JSON),
    with `nodes` as its listing if given."""
    out: dict[str, Any] = {}
    if n.path != "/":
        out["key"] = n.path
    if n.children is None:
        out["value"] = n.value
        ttl_fields(n, now_ns, out)
    else:
        out["dir"] = True
        ttl_fields(n, now_ns, out)
        if nodes is not None:
            out["nodes"] = nodes
    index_fields(n.modified, n.created, out)
    return out


def _visible(d: Node, sort: bool) -> list[Node]:
    """The children of directory `d` that are not hidden (`_` names)."""
    assert d.children is not None
    kids = [c for name, c in d.children.items() if not name.startswith("_")]
    if sort:
        kids.sort(key=lambda c: c.path)
    return kids


def render_tree(top: Node, levels: int, sort: bool, now_ns: int) -> tuple[dict[str, Any], int]:
    """`top` rendered with `levels` levels of listing below it (0: none), and how many
    levels deep the rendering goes. Iterative, as every walk of a user-made depth is:
    a key 1,000 levels deep must not exhaust the interpreter's stack."""
    deepest = 0
    todo: list[tuple[list[Node], list[dict[str, Any]], int]] = []

    def listed(n: Node, level: int) -> dict[str, Any]:
        nodes: list[dict[str, Any]] | None = None
        if n.children is not None and level < levels:
            kids = _visible(n, sort)
            if kids:
                nodes = []
                todo.append((kids, nodes, level + 1))
        return _fields(n, now_ns, nodes)

    out = listed(top, 0)
    while todo:
        kids, nodes, level = todo.pop()
        deepest = max(deepest, level)
        nodes.extend([listed(c, level) for c in kids])
    return out, deepest


def render(n: Node, recursive: bool, sort: bool, now_ns: int) -> dict[str, Any]:
    """etcd's NodeExtern for `n`: a directory lists its subtree only if recursive."""
    if not recursive or n.children is None:
        return _fields(n, now_ns, None)
    return render_tree(n, UNLIMITED, sort, now_ns)[0]


def render_get(n: Node, recursive: bool, sort: bool, now_ns: int) -> tuple[dict[str, Any], int]:
    """The node of a `get` event and its depth: a directory always lists its children
    (one level unless recursive), as etcd's loadInternalNode does."""
    return render_tree(n, UNLIMITED if recursive else 1, sort, now_ns)
