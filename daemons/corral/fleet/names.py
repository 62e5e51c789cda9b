"""Unit names as systemd defines them: prefix, instance, template, and specifiers.

`web@1.service` is an instance of the template `web@.service`: prefix `web`,
instance `1`. A template itself cannot run; its instances get its contents.
"""

from __future__ import annotations

import re

UNIT_TYPES = (
    "service", "socket", "device", "mount", "automount", "swap",
    "target", "path", "timer", "slice", "scope",
)  # fmt: skip
# systemd's UNIT_NAME_MAX (256 with the NUL): a longer name is no file name either
MAX_NAME_LENGTH = 255
_PREFIX = re.compile(r"[A-Za-z0-9:_.\\-]+")
_INSTANCE = re.compile(r"[A-Za-z0-9:_.\\@-]+")  # systemd lets an instance hold "@"


class UnitNameError(ValueError):
    """Not a valid unit name."""


def check_name(name: str) -> None:
    """systemd's rules (unit_name_is_valid): at most 255 characters, PREFIX.TYPE,
    PREFIX@.TYPE (a template) or PREFIX@INSTANCE.TYPE, PREFIX of letters, digits and
    `:_.\\-`, INSTANCE of those and `@`, TYPE a known unit type."""
    problem = _name_problem(name)
    if problem:
        shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
        raise UnitNameError(f"invalid unit name {shown}: {problem}")


def _name_problem(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        return f"{len(name)} characters, at most {MAX_NAME_LENGTH} allowed"
    base, dot, kind = name.rpartition(".")
    if not dot or kind not in UNIT_TYPES:
        return (
            f"expected NAME.TYPE with TYPE one of {', '.join(UNIT_TYPES)} "
            "(templates: NAME@.TYPE, instances: NAME@INSTANCE.TYPE)"
        )
    pre, at, inst = base.partition("@")
    if not _PREFIX.fullmatch(pre):
        return "the name before the type (and before any '@') must be letters, digits or ':_.\\-'"
    if at and inst and not _INSTANCE.fullmatch(inst):
        return "the instance after '@' must be letters, digits or ':_.\\-@'"
    return ""


def without_suffix(name: str) -> str:
    return name.rsplit(".", 1)[0]


def suffix(name: str) -> str:
    return name.rsplit(".", 1)[1]


def prefix(name: str) -> str:
    """`web@1.service` -> `web`; `web.service` -> `web`."""
    return without_suffix(name).split("@", 1)[0]


def instance(name: str) -> str:
    """`web@1.service` -> `1`; "" when not an instance."""
    base = without_suffix(name)
    return base.split("@", 1)[1] if "@" in base else ""


def is_template(name: str) -> bool:
    return without_suffix(name).endswith("@")


def is_instance(name: str) -> bool:
    return "@" in name and not is_template(name)


def template_of(name: str) -> str:
    """`web@1.service` -> `web@.service`."""
    return f"{prefix(name)}@.{suffix(name)}"


def expand_specifiers(value: str, name: str) -> str:
    """Replace %n %N %p %i and %% as systemd does; other specifiers are left alone."""
    table = {
        "n": name,
        "N": without_suffix(name),
        "p": prefix(name),
        "i": instance(name),
        "%": "%",
    }
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%" and i + 1 < len(value) and value[i + 1] in table:
            out.append(table[value[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)
