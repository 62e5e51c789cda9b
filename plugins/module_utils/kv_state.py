# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The pure core of the kv module: what a key should become, with no I/O.

A `KeyState` is what an operator sees of a key: absent (None), a value with or
without a TTL, or a directory with its content. `plan_key` decides the wanted state
from the current one and the module's options; the compare-and-swap conditions are
checked here too, so check mode refuses what the store would refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.corral.cloud.plugins.module_utils.client import KeyNode
from ansible_collections.corral.cloud.plugins.module_utils.refused import Refused


@dataclass(frozen=True)
class KeyState:
    key: str
    value: str | None = None
    dir: bool = False
    expires: bool = False  # has a TTL; the seconds left are not compared
    index: int = 0
    ttl: int | None = field(default=None, compare=False)
    content: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, node: KeyNode) -> KeyState:
        return cls(
            key=node.key,
            value=None if node.dir else node.value,
            dir=node.dir,
            expires=node.ttl is not None,
            index=node.modified_index,
            ttl=node.ttl,
            content=node.to_tree() if node.dir else {},
        )

    def same_as(self, other: KeyState) -> bool:
        """Equal as far as the module manages: kind, value and whether it expires."""
        return (self.dir, self.value, self.expires) == (other.dir, other.value, other.expires)

    def as_dict(self) -> dict[str, Any]:
        """The state as the modules return it."""
        out: dict[str, Any] = {"key": self.key, "dir": self.dir, "ttl": self.ttl}
        if self.dir:
            out["content"] = self.content
        else:
            out["value"] = self.value
        out["modified_index"] = self.index
        return out

    def render(self) -> str:
        if self.dir:
            return "directory " + json.dumps(self.content, indent=2, sort_keys=True) + "\n"
        text = self.value or ""
        if not text.endswith("\n"):
            text += "\n"  # so a diff does not end with "no newline at end of file"
        return text + ("(expires)\n" if self.expires else "")


VALUE_FORMATS = ("text", "json")


def value_text(value: Any, value_format: str = "text") -> str:
    """The text a key is given for `value` as YAML gave it. `text` takes strings and
    numbers and refuses the rest, which would otherwise be stored as a Python repr
    (`{'a': 1}`, `True`); `json` writes any value as compact JSON with sorted keys."""
    if value_format == "json":
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise Refused(f"value cannot be written as JSON: {exc}") from exc
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    kind = ("a dict" if isinstance(value, dict) else "a list" if isinstance(value, list)
            else "a boolean" if isinstance(value, bool) else type(value).__name__)  # fmt: skip
    raise Refused(
        f"value is {kind}, not text: quote it to store it as written, or set "
        "value_format=json to store it as JSON"
    )


def same_json(text: str | None, value: Any) -> bool:
    """Whether the stored `text` is JSON for the same data as `value` (compared as
    canonical JSON: `1` is not `true`, as Python's `1 == True` would have it)."""
    try:
        return text is not None and value_text(json.loads(text), "json") == value_text(
            value, "json"
        )
    except (ValueError, Refused):
        return False


@dataclass(frozen=True)
class KeyWanted:
    """The kv module's options, as plain data."""

    key: str
    present: bool = True
    value: str | None = None
    dir: bool = False
    ttl: int | None = None
    recursive: bool = False
    prev_value: str | None = None
    prev_index: int | None = None


def check_compare(current: KeyState | None, wanted: KeyWanted) -> None:
    """Refuse when prev_value/prev_index do not hold for the current key."""
    if wanted.prev_value is None and wanted.prev_index is None:
        return
    if current is None:
        raise Refused(f"compare failed: key {wanted.key} does not exist")
    if wanted.prev_value is not None and current.value != wanted.prev_value:
        raise Refused(
            f"compare failed: key {wanted.key} has value {current.value!r}, "
            f"not prev_value {wanted.prev_value!r}"
        )
    if wanted.prev_index is not None and current.index != wanted.prev_index:
        raise Refused(
            f"compare failed: key {wanted.key} was modified at index {current.index}, "
            f"not prev_index {wanted.prev_index}"
        )


def plan_key(current: KeyState | None, wanted: KeyWanted) -> KeyState | None:
    """The state the key should have; `current` itself when nothing needs to change."""
    if not wanted.present:
        if current is None:
            return None
        if current.dir and current.content and not wanted.recursive:
            raise Refused(
                f"directory {wanted.key} is not empty: set recursive=true to delete it"
            )
        check_compare(current, wanted)
        return None
    if wanted.dir:
        if current is not None and not current.dir:
            raise Refused(f"key {wanted.key} holds a value, not a directory")
        target = KeyState(wanted.key, dir=True, expires=wanted.ttl is not None, ttl=wanted.ttl)
    else:
        if current is not None and current.dir:
            raise Refused(f"key {wanted.key} is a directory, not a value")
        target = KeyState(
            wanted.key, value=wanted.value, expires=wanted.ttl is not None, ttl=wanted.ttl
        )
    if current is not None and current.same_as(target):
        return current
    check_compare(current, wanted)
    if current is not None and target.dir:
        return KeyState(
            current.key, dir=True, expires=target.expires, index=current.index,
            ttl=target.ttl, content=current.content,
        )
    return target
