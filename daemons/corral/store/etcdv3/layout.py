"""Where v2 nodes live in etcd v3, and how they are read back (pure).

- A v2 node at path `/a/b` is the v3 key `/corral/keys/a/b`; a directory is a marker
  key, its children are the keys under its prefix (`/corral/keys/a/b/`). The root has
  no marker: it always exists.
- A value is `KIND EXPIRE_NS \\n WRITE_ID \\n CREATED MODIFIED \\n VALUE`: kind `f`
  or `d`, the expiry time in ns (0: permanent; the lease does the expiring, this
  renders `expiration`/`ttl`), the id of the gateway write that put it (to resolve
  ambiguous outcomes), then the v2 indexes where they are not the key's own: v2's
  `set` makes a new node (createdIndex = the write's index, `m` below) although the
  v3 key lives on, and v2 leaves a directory's modifiedIndex alone when its TTL
  changes. CREATED is empty (create_revision), `m` (mod_revision) or a number;
  MODIFIED is 0 (mod_revision) or a number.
- Writes arriving together are committed as one etcd transaction (`batch`): each
  write a nested transaction with its own compares, at its position P in the batch.
  Every write also puts its op record `/corral/op/P`: the v2 event without its
  indexes, and its DELTA (below). A revision with no op record that deletes keys is
  a lease expiry, i.e. an `expire` event.
Indexes (format 2): a v2 index is revision + DELTA, where DELTA is the count of
extra writes all batches before this one carried (a batch of n writes uses n
indexes, one revision) plus the write's position P; it is stored in the op record
and in the value (third number of the index line: modifiedIndex = mod_revision +
DELTA, createdIndex = create_revision + DELTA when CREATED is empty). A revision
without an op record (an expiry) takes revision + the DELTA of the newest write
before it. A batch's transaction holds only if no op record changed since the one
its deltas were counted from, so every gateway derives the same indexes. Format 1
(no `/corral/format`, one op record `/corral/op`) is format 2 with every DELTA 0.

Anything may have been written under the prefix by something other than a gateway:
`decode_kv` reads a value not in the format above as a plain file holding the raw
value, and refuses (`Malformed`) a key whose name is not a clean v2 path; `decode_op`
refuses an op record of any other shape than `encode_op`'s.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from corral.store import event as ev
from corral.store.etcdv3.untrusted import Malformed
from corral.store.node import NS, Node
from corral.store.store import clean_path

KEYS = b"/corral/keys"
OP_KEY = b"/corral/op"  # format 1's one op record; format 2's are under OP_PREFIX
OP_PREFIX = OP_KEY + b"/"
OP_END = OP_KEY + b"0"  # [OP_KEY, OP_END) holds every op record of either format
FORMAT_KEY = b"/corral/format"  # the format of the data under /corral (absent: 1)
# One watch covers every node and the op records.
WATCH_START = KEYS + b"/"
WATCH_END = OP_END


def op_key(position: int) -> bytes:
    """The op record of the write at `position` in its batch."""
    return OP_PREFIX + str(position).encode()


def is_op_key(key: bytes) -> bool:
    return key == OP_KEY or key.startswith(OP_PREFIX)


def v3_key(path: str) -> bytes:
    return KEYS + (b"" if path == "/" else path.encode())


def v3_prefix(path: str) -> bytes:
    """The prefix under which the children of directory `path` live."""
    return KEYS + (b"/" if path == "/" else path.encode() + b"/")


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def v2_path(key: bytes) -> str:
    """The v2 path of node key `key`; Malformed if it is none (not UTF-8, not clean:
    `//`, `.`, `..`, a trailing `/`), since no v2 request could name that key."""
    try:
        path = key[len(KEYS) :].decode()
    except UnicodeDecodeError:
        raise Malformed(f"key {key[:200]!r} is not UTF-8") from None
    if path == "/" or clean_path(path) != path:
        raise Malformed(f"key {key[:200]!r} is not a clean v2 path")
    return path


def ancestors(path: str) -> list[str]:
    """The directories above `path`, outermost first, root excluded."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


CREATED_AT_MOD = "m"  # createdIndex is the revision that last put the key
# 9999-12-31T23:59:59Z: the latest expiry v2's RFC 3339 `expiration` can show
MAX_EXPIRE_NS = 253402300799 * NS


def encode_value(
    is_dir: bool, value: str, expire_ns: int, write_id: str, created: str = "",
    modified: int = 0, delta: int = 0,
) -> bytes:  # fmt: skip
    head = f"{'d' if is_dir else 'f'}{expire_ns}\n{write_id}\n{created} {modified} {delta}\n"
    return head.encode() + value.encode()


@dataclass(slots=True)
class Kv:
    """A v3 key-value pair holding a v2 node."""

    path: str
    is_dir: bool
    value: str
    expire_ns: int
    write_id: str
    created: int  # createdIndex
    mod_revision: int
    modified_override: int
    lease: int
    delta: int = 0  # modifiedIndex - mod_revision (see the module's docstring)

    @property
    def modified(self) -> int:
        return self.modified_override or self.mod_revision + self.delta

    def node(self, parent: Node | None = None) -> Node:
        return Node(
            self.path,
            "" if self.is_dir else self.value,
            {} if self.is_dir else None,
            self.created,
            self.modified,
            self.expire_ns,
            parent,
        )


def _number(text: bytes) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def decode_kv(kv: dict[str, Any]) -> Kv:
    """A gateway `kv` object (int64 as strings, bytes as base64) as a `Kv`; Malformed
    if its key names no v2 node."""
    path = v2_path(unb64(kv.get("key")))
    raw = unb64(kv.get("value"))
    mod_revision = int(kv.get("mod_revision", 0))
    parts = raw.split(b"\n", 3)
    expire = _number(parts[0][1:]) if len(parts) == 4 and parts[0][:1] in (b"f", b"d") else None
    # CREATED MODIFIED [DELTA]: format 1 had no DELTA
    numbers = parts[2].split(b" ") if expire is not None else []
    if len(numbers) == 2:
        numbers.append(b"")
    created_text, modified, delta_text = numbers if len(numbers) == 3 else (b"", b"?", b"")
    lease = int(kv.get("lease", 0))
    if (
        expire is None
        or expire > MAX_EXPIRE_NS
        or (expire and not lease)  # a gateway gives every key it puts an expiry a lease
        or (created_text not in (b"", CREATED_AT_MOD.encode()) and _number(created_text) is None)
        or (modified and _number(modified) is None)
        or (delta_text and _number(delta_text) is None)
    ):
        # not written by a gateway (put under the prefix by something else): a file
        parts, expire, created_text, modified, delta_text = [b"f0", b"", b"", raw], 0, b"", b"", b""
    kind_expire, write_id, _, value = parts
    delta = int(delta_text or 0)
    if created_text == CREATED_AT_MOD.encode():
        created = mod_revision + delta
    elif created_text:
        created = int(created_text)
    else:
        created = int(kv.get("create_revision", 0)) + delta
    return Kv(
        path=path,
        is_dir=kind_expire[:1] == b"d",
        value=value.decode("utf-8", "replace"),
        expire_ns=expire or 0,
        write_id=write_id.decode("utf-8", "replace"),
        created=created,
        mod_revision=mod_revision,
        modified_override=int(modified or 0),
        lease=lease,
        delta=delta,
    )


def is_node_key(key: bytes) -> bool:
    return key.startswith(WATCH_START)


def build_tree(target: Kv | None, path: str, descendants: list[Kv]) -> Node | None:
    """The node at `path` with its descendants attached (the root when `path` is "/").
    A key whose parent marker is missing is skipped: it is not reachable in v2."""
    if path == "/":
        top = Node("/", "", {}, 0, 0, 0, None)
    elif target is None:
        return None
    else:
        top = target.node()
    if top.children is None:
        return top
    nodes = {path: top}
    for kv in sorted(descendants, key=lambda k: k.path):
        parent_path, name = kv.path.rsplit("/", 1)
        parent = nodes.get(parent_path or "/")
        if parent is None or parent.children is None:
            continue
        n = kv.node(parent)
        parent.children[name] = n
        nodes[kv.path] = n
    return top


def _without_value(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None or "value" not in node:
        return node
    return {k: ("" if k == "value" else v) for k, v in node.items()}


def encode_op(
    action: str, node: dict[str, Any], prev: dict[str, Any] | None, created: int,
    refresh: bool, write_id: str, delta: int = 0,
) -> bytes:  # fmt: skip
    """The op record: the v2 event of a write, its index left to the revision (plus
    `delta`). Values
    are left out (kept as "" so the field order stays): the key's own v3 event in the
    same revision carries the value and the previous one, and a value may be as big
    as etcd lets a request be."""
    record = {
        "a": action, "n": _without_value(node), "p": _without_value(prev), "c": created,
        "r": refresh, "w": write_id, "e": delta,
    }  # fmt: skip
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(slots=True)
class Op:
    """A v2 write's op record, as stored beside the keys for the watch feed."""

    action: str
    node: dict[str, Any]  # any "value" is a placeholder, see encode_op
    prev: dict[str, Any] | None
    created: int  # 0: created by this revision
    refresh: bool
    write_id: str
    delta: int = 0  # the write's index - its revision


# What an op record may say: the write actions, and the fields `render` gives a node
OP_ACTIONS = frozenset(
    {ev.CREATE, ev.SET, ev.UPDATE, ev.DELETE, ev.COMPARE_AND_SWAP, ev.COMPARE_AND_DELETE}
)
_NODE_FIELDS = frozenset(
    {"key", "value", "dir", "expiration", "ttl", "modifiedIndex", "createdIndex"}
)


def _op_node(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not data.keys() <= _NODE_FIELDS:
        raise Malformed(f"op record: {what} is not a node")
    key = data.get("key")
    if not isinstance(key, str) or key == "/" or clean_path(key) != key:
        raise Malformed(f"op record: {what} names no v2 node")
    if not all(isinstance(v, str | int) for v in data.values()):
        raise Malformed(f"op record: {what} has a field that is not a string or number")
    return data


def decode_op(raw: bytes) -> Op:
    """The op record `raw`; Malformed if it is not of `encode_op`'s shape."""
    try:
        r = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is one
        raise Malformed(f"op record {raw[:100]!r} is not JSON") from None
    if not isinstance(r, dict):
        raise Malformed("op record is not a JSON object")
    action, created = r.get("a"), r.get("c")
    if action not in OP_ACTIONS:
        raise Malformed(f"op record: unknown action {str(action)[:50]!r}")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise Malformed("op record: createdIndex is not a number")
    if not isinstance(r.get("r"), bool) or not isinstance(r.get("w"), str):
        raise Malformed("op record: refresh or write id of the wrong type")
    delta = r.get("e", 0)  # format 1 records have none
    if not isinstance(delta, int) or isinstance(delta, bool) or delta < 0:
        raise Malformed("op record: index delta is not a number")
    prev = None if r.get("p") is None else _op_node(r["p"], "the previous node")
    return Op(action, _op_node(r.get("n"), "the node"), prev, created, r["r"], r["w"], delta)
