"""Turn raw replies into records two servers can be compared on (pure functions).

What varies between two correct servers, or two runs of one, is rewritten; the
rest is kept exactly:
- indexes become relative to the scenario's base index (`i+3`); 0 stays 0 (etcd
  answers index 0 for requests it rejects before reaching the store);
- `expiration` becomes a verdict on its format and on its agreement with `ttl`;
- `ttl` keeps its value but compares equal within two seconds either way, except in
  the node a write answers (or a watch replays), where it is the TTL given, exactly;
- `X-Raft-Index`, `X-Raft-Term`, `X-Etcd-Cluster-Id`: present or not, not the value;
- `Content-Type`, `Allow`, `Location` and etcd's CORS headers are compared exactly;
  `Date`, `Content-Length` and the transfer framing are not compared;
- `nodes` lists are sorted by key unless the request asked for `sorted=true`, since
  etcd lists a directory in map order.
Indexes inside error causes and etcdctl output are rewritten only where etcd's format
says a number is an index, so values that happen to look like numbers are kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .wire import Reply

Record = dict[str, Any]

EXACT_HEADERS = (
    "content-type",
    "allow",
    "location",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
)
PRESENT_HEADERS = ("x-raft-index", "x-raft-term", "x-etcd-cluster-id")
INDEX_FIELDS = ("modifiedIndex", "createdIndex", "index")
# A write's node carries the TTL just given, computed as the write is applied (and so
# kept in the event history): exact, where a later read is not.
WRITES = ("set", "create", "update", "compareAndSwap")
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
IN_ORDER_KEY = re.compile(r"(?<=/)(\d{20})(?=/|$)")
TEXT_INDEXES = (
    re.compile(r"\[(\d+) != (\d+)\]"),  # 101 on prevIndex: [given != actual]
    re.compile(r"\[(\d+)/(\d+)\]"),  # 401: [oldest kept/requested]
    re.compile(r"\[(\d+)\]$", re.M),  # etcdctl: "Error:  100: Key not found (/k) [12]"
    re.compile(r"Index: (\d+)"),  # etcdctl -o extended
    re.compile(r'"(?:modifiedIndex|createdIndex)":(\d+)'),  # etcdctl -o json
)


@dataclass(frozen=True)
class Ttl:
    """A TTL in seconds. etcd rounds the remaining time up, and two servers read a key
    at slightly different moments after writing it, so within 2 s is the same TTL."""

    seconds: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ttl) and abs(self.seconds - other.seconds) <= 2

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"ttl~{self.seconds}"


def relative(index: int, base: int) -> str | int:
    return 0 if index == 0 else f"i{index - base:+d}"


def relative_text(text: str, base: int) -> str:
    """Rewrite the numbers that etcd's formats mark as indexes, relative to `base`."""

    def swap(match: re.Match[str]) -> str:
        out, last = [], match.start()
        for group in range(1, (match.lastindex or 0) + 1):
            out.append(match.string[last : match.start(group)])
            out.append(str(relative(int(match.group(group)), base)))
            last = match.end(group)
        out.append(match.string[last : match.end()])
        return "".join(out)

    for pattern in TEXT_INDEXES:
        text = pattern.sub(swap, text)
    return relative_key(text, base)


def relative_key(key: str, base: int) -> str:
    """In-order keys are named by their creation index: make the name relative too."""
    return IN_ORDER_KEY.sub(lambda m: f"<{relative(int(m.group(1)), base)}>", key)


def expiration_verdict(value: object, ttl: object, now: datetime) -> str:
    if not isinstance(value, str) or not RFC3339NANO.match(value):
        return f"<bad expiration format: {value!r}>"
    stamp = value[:-1]
    if "." in stamp:
        whole, frac = stamp.split(".")
        stamp = f"{whole}.{frac[:6]}"
    at = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    if isinstance(ttl, int) and abs(at - (now + timedelta(seconds=ttl))) > timedelta(seconds=3):
        return f"<expiration {value} disagrees with ttl {ttl}>"
    return "<expiration>"


def normalise_node(
    node: dict[str, Any], base: int, now: datetime, ordered: bool, exact_ttl: bool = False
) -> Record:
    out: Record = {}
    for name, value in node.items():
        if name in INDEX_FIELDS and isinstance(value, int):
            out[name] = relative(value, base)
        elif name == "key" and isinstance(value, str):
            out[name] = relative_key(value, base)
        elif name == "expiration":
            out[name] = expiration_verdict(value, node.get("ttl"), now)
        elif name == "ttl" and isinstance(value, int):
            out[name] = value if exact_ttl else Ttl(value)
        elif name == "nodes" and isinstance(value, list):
            children = [normalise_node(n, base, now, ordered) for n in value]
            out[name] = children if ordered else sorted(children, key=lambda n: n.get("key", ""))
        else:
            out[name] = value
    return out


def normalise_body(body: Any, base: int, now: datetime, ordered: bool) -> Any:
    if not isinstance(body, dict):
        return body
    out: Record = {}
    for name, value in body.items():
        if name in ("node", "prevNode") and isinstance(value, dict):
            exact = name == "node" and body.get("action") in WRITES
            out[name] = normalise_node(value, base, now, ordered, exact_ttl=exact)
        elif name == "index" and isinstance(value, int):
            out[name] = relative(value, base)
        elif name == "cause" and isinstance(value, str):
            out[name] = relative_text(value, base)
        else:
            out[name] = value
    return out


def decode_body(reply: Reply) -> Any:
    """JSON when it parses, else the text (trailing whitespace aside)."""
    text = reply.body.decode("utf-8", errors="backslashreplace")
    try:
        return json.loads(text)
    except ValueError:
        return text.rstrip()


def normalise_reply(reply: Reply, base: int, now: datetime, ordered: bool = False) -> Record:
    headers: Record = {}
    for name in EXACT_HEADERS:
        if reply.header(name) is not None:
            headers[name] = reply.header(name)
    etcd_index = reply.header("x-etcd-index")
    if etcd_index is not None:
        headers["x-etcd-index"] = (
            relative(int(etcd_index), base) if etcd_index.isdigit() else etcd_index
        )
    for name in PRESENT_HEADERS:
        headers[name] = "<present>" if reply.header(name) is not None else "<absent>"
    return {
        "status": reply.status,
        "headers": headers,
        "body": normalise_body(decode_body(reply), base, now, ordered),
    }


def shape(value: Any) -> Any:
    """The JSON structure of `value` with every leaf replaced by its type's name."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def select(record: Record, parts: tuple[str, ...] | None) -> Record:
    """Only the parts a step compares (all when `parts` is None)."""
    if parts is None:
        return record
    return {k: v for k, v in record.items() if k in parts or k == "step"}


def describe_difference(expected: list[Record], actual: list[Record]) -> str:
    """A readable account of every step whose record differs."""
    lines: list[str] = []
    for number, (want, got) in enumerate(zip(expected, actual, strict=False), 1):
        if want == got:
            continue
        lines.append(f"step {number}: {want.get('step')}")
        for part in sorted(set(want) | set(got)):
            if part == "step" or want.get(part) == got.get(part):
                continue
            lines.append(f"  {part}:")
            lines.append(f"    etcd: {want.get(part)!r}")
            lines.append(f"    ours: {got.get(part)!r}")
    if len(expected) != len(actual):
        lines.append(f"etcd gave {len(expected)} records, ours {len(actual)}")
    return "\n".join(lines)
