"""How the store steers a machine's corral-updated: channel, strategy and maintenance
windows (pure, no I/O).

Two records, each a JSON object with any of the fields `channel`, `strategy`, `windows`:
`config/all` (the cluster's default) and `config/<id>` (one machine), e.g.

    {"channel": "beta", "strategy": "lock", "windows": ["Mon-Fri 02:00 2h Europe/Berlin"]}

The effective settings are the daemon's own flags, overridden field by field by `all`,
then by the machine's record. A field a record leaves out comes from the layer below; an
empty `windows` list means any time, which is not the same as leaving windows out.

Invariants: a `Settings` made by `settings_from` or `parse_settings` is valid (a mirror
channel name, a strategy of `policy.STRATEGIES`, windows that `MaintenanceWindow.parse`
accepts); an unknown field is refused, so a misspelt one is an error, not ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from corral.updated.policy import STRATEGIES
from corral.updated.windows import MaintenanceWindow, WindowError

FIELDS = ("channel", "strategy", "windows")
# the mirror's channel names (corral.mirror.layout; a test keeps the two in step)
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class SettingsError(ValueError):
    """A settings record or value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """One layer of settings; None means "not set here"."""

    channel: str | None = None
    strategy: str | None = None
    windows: tuple[str, ...] | None = None

    def over(self, below: Settings) -> Settings:
        """These settings, with the fields left unset taken from `below`."""
        return Settings(*(getattr(self, f) if getattr(self, f) is not None
                          else getattr(below, f) for f in FIELDS))  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, as the store's JSON has them."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "windows" else value
        return out

    def encode(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def without(self, names: tuple[str, ...]) -> Settings:
        """These settings with the named fields unset."""
        return replace(self, **dict.fromkeys(names))


def check_channel(channel: Any) -> str:
    if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
        raise SettingsError(f"channel {channel!r}: use lower-case letters, digits, '.', '_'"
                            " and '-' (as the mirror names its channels)")  # fmt: skip
    return channel


def check_strategy(strategy: Any) -> str:
    if strategy not in STRATEGIES:
        raise SettingsError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    return str(strategy)


def check_windows(windows: Any) -> tuple[str, ...]:
    """The windows, each as written (surrounding blanks removed), all of them parsed."""
    if isinstance(windows, str) or not isinstance(windows, list | tuple):
        raise SettingsError(f"windows {windows!r}: give a list of windows such as"
                            " ['Mon-Fri 02:00 2h Europe/Berlin']")  # fmt: skip
    out = []
    for window in windows:
        if not isinstance(window, str):
            raise SettingsError(f"window {window!r} is not a string")
        try:
            MaintenanceWindow.parse(window)
        except WindowError as exc:
            raise SettingsError(str(exc)) from None
        out.append(" ".join(window.split()))
    return tuple(out)


def settings_from(data: Mapping[str, Any]) -> Settings:
    """Settings from a mapping of field to value; a None value leaves the field unset."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown field(s) {', '.join(map(repr, unknown))};"
                            f" known: {', '.join(FIELDS)}")  # fmt: skip
    channel, strategy, windows = (data.get(f) for f in FIELDS)
    return Settings(
        None if channel is None else check_channel(channel),
        None if strategy is None else check_strategy(strategy),
        None if windows is None else check_windows(windows),
    )


def parse_settings(text: str | None) -> Settings:
    """A record's settings; raises SettingsError for text that is not a valid record."""
    try:
        data = json.loads(text or "")
    except ValueError:
        raise SettingsError(f"not JSON: {text!r:.200}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"not a JSON object: {text!r:.200}")
    if any(value is None for value in data.values()):
        raise SettingsError("null values: leave a field out to take it from the layer below")
    return settings_from(data)


def effective(defaults: Settings, cluster: Settings, machine: Settings) -> Settings:
    """What a machine uses: its flags, under the cluster's record, under its own."""
    return machine.over(cluster.over(defaults))
