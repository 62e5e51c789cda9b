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
_NAME = re.compile(r"^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.([a-z]+)$")


class UnitNameError(ValueError):
    """Not a valid unit name."""


def check_name(name: str) -> None:
    match = _NAME.match(name)
    if not match or match.group(2) not in UNIT_TYPES or name.startswith("@"):
        raise UnitNameError(
            f"invalid unit name {name!r}: expected NAME.TYPE with TYPE one of "
            f"{', '.join(UNIT_TYPES)} (templates: NAME@.TYPE, instances: NAME@INSTANCE.TYPE)"
        )


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
