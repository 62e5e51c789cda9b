"""What an agent must do to make its machine match the store (pure, no I/O).

The agent's wanted set is every unit scheduled to its machine plus every global unit
its metadata matches (none when drained). `plan()` compares it with what the executor
has loaded and what the agent has launched, and returns the actions in a safe order:
stops before unloads, loads before starts. A launched unit that has since stopped or
failed is not started again by the agent: its Restart= policy and the engine's
failure count decide, so a unit stopped by its user stays stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Wanted:
    """A unit as this machine must run it: contents, desired state, restart token."""
    hash: str
    contents: str
    desired: str  # "loaded" or "launched"
    restart: str = ""  # the restart token for this machine


@dataclass(frozen=True)
class Action:
    """One step of a plan: a verb on a unit, with what the verb needs."""
    verb: str  # "stop", "unload", "load", "start", "restart"
    unit: str
    contents: str = ""
    token: str = ""


def plan(
    wanted: Mapping[str, Wanted],
    loaded: Mapping[str, str],  # unit -> hash of the loaded contents
    launched: Mapping[str, str],  # unit -> restart token applied when launched
) -> list[Action]:
    stops: list[Action] = []
    unloads: list[Action] = []
    loads: list[Action] = []
    starts: list[Action] = []
    for unit in sorted(set(loaded) | set(launched)):
        if unit not in wanted:
            if unit in launched:
                stops.append(Action("stop", unit))
            if unit in loaded:
                unloads.append(Action("unload", unit))
    for unit, w in sorted(wanted.items()):
        fresh = loaded.get(unit) != w.hash
        if fresh:
            if unit in launched:
                stops.append(Action("stop", unit))
            loads.append(Action("load", unit, contents=w.contents))
        if w.desired == "launched":
            if fresh or unit not in launched:
                starts.append(Action("start", unit, token=w.restart))
            elif w.restart and launched[unit] != w.restart:
                starts.append(Action("restart", unit, token=w.restart))
        elif unit in launched and not fresh:
            stops.append(Action("stop", unit))
    return stops + unloads + loads + starts
