"""An event: what one action did, as etcd renders it (`action`, `node`, `prevNode`).

`index` is the node's modifiedIndex (the index the action took); `etcd_index` is the
store index when the event was answered (the `X-Etcd-Index` header, not in the body).
A refresh event advances the index and enters the history but wakes no watcher.
"""

from __future__ import annotations

import json
from typing import Any

GET = "get"
CREATE = "create"
SET = "set"
UPDATE = "update"
DELETE = "delete"
COMPARE_AND_SWAP = "compareAndSwap"
COMPARE_AND_DELETE = "compareAndDelete"
EXPIRE = "expire"

# Built once: json.dumps with options builds an encoder per call, a third of the cost
# of rendering an event (6.7 -> 4.8 us for a set of a 256-byte value). Stateless, so
# the loop and the disk thread share it.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The C encoder recurses once per JSON level against the interpreter's recursion limit
# (1000); a GET's listing nests two per key level. Deeper than this many key levels,
# the body is encoded by `encode_iteratively` (a tenth of the C encoder's speed).
C_ENCODER_LEVELS = 200


class _Raw(str):
    """Output text in `encode_iteratively`'s work list (values are plain str)."""

    __slots__ = ()


def encode_iteratively(obj: Any) -> bytes:
    """`_JSON.encode(obj)` for dicts and lists nested to any depth, with an explicit
    work list instead of recursion; leaves go to the C encoder."""
    out: list[str] = []
    todo: list[Any] = [obj]
    encode = _JSON.encode
    while todo:
        x = todo.pop()
        kind = type(x)
        if kind is _Raw:
            out.append(x)
        elif kind is dict:
            out.append("{")
            todo.append(_Raw("}"))
            items = list(x.items())
            for i in range(len(items) - 1, -1, -1):
                k, v = items[i]
                todo.append(v)
                todo.append(_Raw(("," if i else "") + encode(k) + ":"))
        elif kind is list:
            out.append("[")
            todo.append(_Raw("]"))
            for i in range(len(x) - 1, -1, -1):
                todo.append(x[i])
                if i:
                    todo.append(_Raw(","))
        else:
            out.append(encode(x))
    return "".join(out).encode()


class Event:
    """A v2 event (action, node, previous node) and its answer's bytes, rendered once."""

    __slots__ = ("_body", "action", "etcd_index", "node", "prev_node", "refresh")

    def __init__(
        self,
        action: str,
        node: dict[str, Any],
        prev_node: dict[str, Any] | None = None,
        etcd_index: int = 0,
        refresh: bool = False,
    ) -> None:
        self.action = action
        self.node = node
        self.prev_node = prev_node
        self.etcd_index = etcd_index
        self.refresh = refresh
        self._body: bytes | None = None

    @property
    def key(self) -> str:
        key: str = self.node.get("key", "/")
        return key

    @property
    def index(self) -> int:
        return int(self.node.get("modifiedIndex", 0))

    @property
    def created(self) -> bool:
        """Answered with 201: a create, or a set that made a new key."""
        return self.action == CREATE or (self.action == SET and self.prev_node is None)

    @property
    def removes_dir(self) -> bool:
        return (
            self.action in (DELETE, EXPIRE, COMPARE_AND_DELETE)
            and self.prev_node is not None
            and bool(self.prev_node.get("dir"))
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "node": self.node}
        if self.prev_node is not None:
            out["prevNode"] = self.prev_node
        return out

    def to_json(self) -> bytes:
        """The response body; cached because an event may go to many watchers."""
        if self._body is None:
            self._body = _JSON.encode(self.to_dict()).encode() + b"\n"
        return self._body

    def preset_body(self, body: bytes) -> None:
        """Use a body rendered earlier from the same node state."""
        self._body = body

    def with_etcd_index(self, etcd_index: int) -> Event:
        e = Event(self.action, self.node, self.prev_node, etcd_index, self.refresh)
        e._body = self._body
        return e

    @classmethod
    def got(cls, node: dict[str, Any], levels: int, etcd_index: int) -> Event:
        """A `get` event for a rendering `levels` key levels deep."""
        e = cls(GET, node, None, etcd_index)
        if levels > C_ENCODER_LEVELS:
            e._body = encode_iteratively(e.to_dict()) + b"\n"
        return e

    @classmethod
    def from_dict(cls, data: dict[str, Any], refresh: bool = False) -> Event:
        return cls(data["action"], data["node"], data.get("prevNode"), 0, refresh)
