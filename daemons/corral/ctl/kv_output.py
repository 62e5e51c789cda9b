"""How `corralctl kv` prints store answers: etcdctl v2's simple, extended and json formats.

Pure functions from a `Result` (or an error) to text; nothing here touches a socket
or a stream, so the formats are tested with plain calls.

Invariants, all taken from etcdctl v2 (etcdctl/ctlv2/command/format.go and the Go
client's `Response`/`KeyNode` types):
- json is what Go's encoding/json makes of the client's structs: fields in struct
  order, `dir`, `expiration` and `ttl` omitted when empty, `nodes` and `prevNode` null
  when absent, `<`, `>`, `&`, U+2028 and U+2029 escaped, control characters as `\\u00XX`.
- The root directory's key is "" (etcd sends the root without a key).
- An error reads `Error:  CODE: MESSAGE (CAUSE) [INDEX]`, the cause in parentheses
  even when empty, as Go's `client.Error` prints it.
"""

from __future__ import annotations

import re

from corral.client import EtcdError, KeyNode, Result

FORMATS = ("simple", "extended", "json")

_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\<>&\u2028\u2029\ud800-\udfff]')
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$"
)


def go_string(text: str) -> str:
    """`text` as Go's encoding/json writes a string (HTML-safe escaping on)."""

    def escape(match: re.Match[str]) -> str:
        ch = match.group()
        if ch in _GO_ESCAPES:
            return _GO_ESCAPES[ch]
        if "\ud800" <= ch <= "\udfff":  # a lone surrogate is not UTF-8: Go writes U+FFFD
            return "\ufffd"
        return f"\\u{ord(ch):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def go_time(stamp: str) -> str:
    """An RFC 3339 time as Go re-marshals it: no trailing zeros in the fraction and
    `Z` for a zero offset. Anything else is passed through unchanged."""
    match = _RFC3339.match(stamp)
    if match is None:
        return stamp
    base, fraction, zone = match.groups()
    fraction = (fraction or "").rstrip("0")
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return base + (f".{fraction}" if fraction else "") + zone


def display_key(node: KeyNode) -> str:
    return "" if node.key == "/" else node.key


def node_json(node: KeyNode | None) -> str:
    """etcd's JSON of a node and everything below it. Iterative: a tree as deep as the
    store allows renders without touching Python's recursion limit."""
    if node is None:
        return "null"
    done: dict[int, str] = {}  # id(node) -> its JSON, once its children have theirs
    stack: list[tuple[KeyNode, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        if not children_done and current.nodes:
            stack.append((current, True))
            stack.extend((child, False) for child in reversed(current.nodes))
            continue
        done[id(current)] = _node_fields(current, [done.pop(id(c)) for c in current.nodes])
    return done[id(node)]


def _node_fields(node: KeyNode, children: list[str]) -> str:
    parts = [f'"key":{go_string(display_key(node))}']
    if node.dir:
        parts.append('"dir":true')
    parts.append(f'"value":{go_string(node.value or "")}')
    parts.append(f'"nodes":[{",".join(children)}]' if node.nodes else '"nodes":null')
    parts.append(f'"createdIndex":{node.created_index}')
    parts.append(f'"modifiedIndex":{node.modified_index}')
    if node.expiration:
        parts.append(f'"expiration":{go_string(go_time(node.expiration))}')
    if node.ttl:
        parts.append(f'"ttl":{int(node.ttl)}')
    return "{" + ",".join(parts) + "}"


def result_json(result: Result) -> str:
    return (
        f'{{"action":{go_string(result.action)},"node":{node_json(result.node)},'
        f'"prevNode":{node_json(result.prev_node)}}}'
    )


def render(result: Result, output: str) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) for one answer, as etcdctl's printResponseKey."""
    node = result.node
    if output == "simple":
        if result.action != "delete":
            return [node.value or ""], []
        prev = result.prev_node.value if result.prev_node else ""
        return [f"PrevNode.Value: {prev or ''}"], []
    if output == "extended":
        lines = [
            f"Key: {display_key(node)}",
            f"Created-Index: {node.created_index}",
            f"Modified-Index: {node.modified_index}",
        ]
        if result.prev_node is not None:
            lines.append(f"PrevNode.Value: {result.prev_node.value or ''}")
        lines.append(f"TTL: {int(node.ttl or 0)}")
        lines.append(f"Index: {result.etcd_index or 0}")
        if result.action != "delete":
            lines += ["", node.value or ""]
        return lines, []
    if output == "json":
        return [result_json(result)], []
    return [], [f"Unsupported output format: {output}"]


def listing(result: Result, append_slash: bool) -> list[str]:
    """`ls` in the simple format: a key lists itself, a directory its descendants
    (as many levels as the answer holds), depth first."""
    lines = [] if result.node.dir else [result.node.key]
    for child in result.node.nodes:
        for node in child.walk():
            lines.append(f"{node.key}/" if node.dir and append_slash else node.key)
    return lines


def error_line(exc: EtcdError) -> str:
    return f"Error:  {exc.code}: {exc.message} ({exc.cause}) [{exc.index}]"
