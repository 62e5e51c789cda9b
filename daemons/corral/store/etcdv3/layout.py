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
- Every v2 write also puts the op record `/corral/op` in the same transaction: the v2
  event without its indexes (those are the revision). A revision with no op record
  that deletes keys is a lease expiry, i.e. an `expire` event.
Indexes: modifiedIndex = mod_revision, createdIndex = create_revision.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from corral.store.node import Node

KEYS = b"/corral/keys"
OP_KEY = b"/corral/op"
# One watch covers every node and the op record.
WATCH_START = KEYS + b"/"
WATCH_END = OP_KEY + b"\0"


def v3_key(path: str) -> bytes:
    return KEYS + (b"" if path == "/" else path.encode())


def v3_prefix(path: str) -> bytes:
    """The prefix under which the children of directory `path` live."""
    return KEYS + (b"/" if path == "/" else path.encode() + b"/")


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def v2_path(key: bytes) -> str:
    return key[len(KEYS) :].decode("utf-8", "replace") or "/"


def ancestors(path: str) -> list[str]:
    """The directories above `path`, outermost first, root excluded."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


CREATED_AT_MOD = "m"  # createdIndex is the revision that last put the key


def encode_value(
    is_dir: bool, value: str, expire_ns: int, write_id: str, created: str = "",
    modified: int = 0,
) -> bytes:  # fmt: skip
    head = f"{'d' if is_dir else 'f'}{expire_ns}\n{write_id}\n{created} {modified}\n"
    return head.encode() + value.encode()


@dataclass(slots=True)
class Kv:
    """A v3 key-value pair holding a v2 node."""

    path: str
    is_dir: bool
    value: str
    expire_ns: int
    write_id: str
    created: int  # create_revision
    mod_revision: int
    modified_override: int
    lease: int

    @property
    def modified(self) -> int:
        return self.modified_override or self.mod_revision

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


def decode_kv(kv: dict[str, Any]) -> Kv:
    """A gateway `kv` object (int64 as strings, bytes as base64) as a `Kv`."""
    raw = unb64(kv.get("value"))
    mod_revision = int(kv.get("mod_revision", 0))
    parts = raw.split(b"\n", 3)
    if len(parts) != 4 or parts[0][:1] not in (b"f", b"d") or not parts[0][1:].isdigit():
        # not written by a gateway (someone put it under the prefix by hand): a file
        parts = [b"f0", b"", b"", raw]
    kind_expire, write_id, indexes, value = parts
    created_text, _, modified = indexes.decode().partition(" ")
    if created_text == CREATED_AT_MOD:
        created = mod_revision
    elif created_text.isdigit():
        created = int(created_text)
    else:
        created = int(kv.get("create_revision", 0))
    return Kv(
        path=v2_path(unb64(kv.get("key"))),
        is_dir=kind_expire[:1] == b"d",
        value=value.decode("utf-8", "replace"),
        expire_ns=int(kind_expire[1:] or 0),
        write_id=write_id.decode(),
        created=created,
        mod_revision=mod_revision,
        modified_override=int(modified) if modified.isdigit() else 0,
        lease=int(kv.get("lease", 0)),
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
    refresh: bool, write_id: str,
) -> bytes:  # fmt: skip
    """The op record: the v2 event of a write, indexes left to the revision. Values
    are left out (kept as "" so the field order stays): the key's own v3 event in the
    same revision carries the value and the previous one, and a value may be as big
    as etcd lets a request be."""
    record = {
        "a": action, "n": _without_value(node), "p": _without_value(prev), "c": created,
        "r": refresh, "w": write_id,
    }  # fmt: skip
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(slots=True)
class Op:
    action: str
    node: dict[str, Any]  # any "value" is a placeholder, see encode_op
    prev: dict[str, Any] | None
    created: int  # 0: created by this revision
    refresh: bool
    write_id: str


def decode_op(raw: bytes) -> Op:
    r = json.loads(raw)
    return Op(r["a"], r["n"], r["p"], int(r["c"]), bool(r["r"]), str(r["w"]))
