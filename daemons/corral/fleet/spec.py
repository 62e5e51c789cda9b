"""A unit as the scheduler sees it: its name, contents, hash and [X-Fleet] options.

`unit_spec()` is the single place where a submitted unit is checked: a unit that
passes it can be placed; one that does not is refused with a message that says what
to change. Specifiers (%n %N %p %i) are expanded in [X-Fleet] values, so a template's
instances each get their own constraints.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

from corral.fleet import names
from corral.fleet.metadata import MetadataError, Requirement, parse_terms, requirement
from corral.fleet.unitfile import UnitFileError, parse_unit

SECTION = "X-Fleet"
# every agent keeps every unit file in memory (its watched keys' copy of the store): a unit file
# is a few KiB, and a bigger one is almost surely a mistake (a binary, a log)
MAX_UNIT_BYTES = 64 * 1024
KNOWN = ("Global", "MachineID", "MachineOf", "MachineMetadata", "Conflicts", "Replaces")
# fleet's pre-0.8 names, refused with a pointer to the new one
RENAMED = {
    "X-ConditionMachineID": "MachineID",
    "X-ConditionMachineOf": "MachineOf",
    "X-ConditionMachineMetadata": "MachineMetadata",
    "X-Conflicts": "Conflicts",
    "X-ConditionMachineBootID": "MachineID",
}


class SubmitError(ValueError):
    """A unit refused at submit; the message is for the user."""


@dataclass(frozen=True)
class FleetOptions:
    """A unit's [X-Fleet] options, parsed and with specifiers expanded."""
    global_: bool = False
    machine_id: str | None = None
    machine_of: tuple[str, ...] = ()
    metadata: Requirement = field(default_factory=Requirement)
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitSpec:
    """A unit that passed `unit_spec()`: its name, contents and [X-Fleet] options."""
    name: str
    contents: str
    options: FleetOptions

    @property
    def hash(self) -> str:
        return content_hash(self.contents)


def content_hash(contents: str) -> str:
    # surrogatepass: any JSON string from the store has a hash (refused files too)
    return hashlib.sha1(contents.encode("utf-8", "surrogatepass")).hexdigest()


def unit_spec(name: str, contents: str, max_bytes: int = MAX_UNIT_BYTES) -> UnitSpec:
    """Parse and validate; raise SubmitError with a message naming the problem."""
    try:
        names.check_name(name)
    except names.UnitNameError as exc:
        raise SubmitError(str(exc)) from exc
    try:
        size = len(contents.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate, from a JSON "\ud800" escape
        raise SubmitError(f"{name}: the unit file is not UTF-8 text") from exc
    if size > max_bytes:
        raise SubmitError(
            f"{name}: the unit file is {size} bytes, more than the limit of {max_bytes}"
        )
    if not contents.strip():
        raise SubmitError(f"{name}: the unit file is empty")
    try:
        unit = parse_unit(contents)
    except UnitFileError as exc:
        raise SubmitError(f"{name}: {exc}") from exc
    opts = _options(name, unit.sections.get(SECTION, []))
    _check(name, opts)
    return UnitSpec(name, contents, opts)


def _words(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(shlex.split(v))
    return tuple(out)


def _options(name: str, assignments: list[tuple[str, str]]) -> FleetOptions:
    for key, _ in assignments:
        if key in RENAMED:
            raise SubmitError(f"{name}: [X-Fleet] {key} was renamed {RENAMED[key]}")
        if key not in KNOWN:
            raise SubmitError(
                f"{name}: unknown [X-Fleet] option {key!r} (known: {', '.join(KNOWN)})"
            )
    # expand specifiers first, then apply systemd's list/last-wins rules
    values: dict[str, list[str]] = {k: [] for k in KNOWN}
    for key, value in assignments:
        if value == "":
            values[key] = []
        else:
            values[key].append(names.expand_specifiers(value, name))
    try:
        glob_ = values["Global"][-1].lower() if values["Global"] else "false"
        if glob_ not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise SubmitError(f"{name}: Global={values['Global'][-1]} is not a boolean")
        machine_ids = _words(values["MachineID"])
        if len(set(machine_ids)) > 1:
            raise SubmitError(f"{name}: MachineID given more than once ({', '.join(machine_ids)})")
        terms = parse_terms(values["MachineMetadata"])
    except (ValueError, MetadataError) as exc:
        if isinstance(exc, SubmitError):
            raise
        raise SubmitError(f"{name}: {exc}") from exc
    return FleetOptions(
        global_=glob_ in ("true", "yes", "1", "on"),
        machine_id=machine_ids[0] if machine_ids else None,
        machine_of=_words(values["MachineOf"]),
        metadata=requirement(terms),
        conflicts=_words(values["Conflicts"]),
        replaces=_words(values["Replaces"]),
    )


def _check(name: str, o: FleetOptions) -> None:
    if o.global_:
        for option, present in (
            ("MachineID", o.machine_id),
            ("MachineOf", o.machine_of),
            ("Conflicts", o.conflicts),
            ("Replaces", o.replaces),
        ):
            if present:
                raise SubmitError(
                    f"{name}: Global=true cannot be combined with {option}: a global unit "
                    "runs on every machine matching its MachineMetadata"
                )
    if o.machine_id and o.machine_of:
        raise SubmitError(f"{name}: MachineID and MachineOf both pin the machine; use one of them")
    if name in o.machine_of:
        raise SubmitError(f"{name}: MachineOf names the unit itself")
    if name in o.replaces:
        raise SubmitError(f"{name}: Replaces names the unit itself")
    both = set(o.machine_of) & (set(o.replaces))
    if both:
        raise SubmitError(f"{name}: {', '.join(sorted(both))} is in both MachineOf and Replaces")
    for target in o.machine_of:
        # in a template, %i is empty until an instance is made: only instances are checked
        if names.is_template(target) and not names.is_template(name):
            raise SubmitError(f"{name}: MachineOf={target} names a template, not a unit")
