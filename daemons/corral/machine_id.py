"""Machine ids as the daemons take them (`--machine-id`, /etc/machine-id): one check
for corral-updated and corral-fleet, since both name store keys after them.

An id is 1 to `MAX_LENGTH` letters, digits, '.', '_' or '-', starting with a letter or
a digit (so never '.' or '..', which a key path would resolve), and not a reserved
name: `all` is the cluster-wide key beside the per-machine ones (`holds/all`,
`config/all`), so a machine called `all` would hold or configure every machine.
"""

from __future__ import annotations

import re

MAX_LENGTH = 128  # a DNS label's 63 twice over; /etc/machine-id is 32
RESERVED = frozenset({"all"})
_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_LENGTH - 1}}}")


class MachineIdError(ValueError):
    """An id the daemons refuse; the message says why."""


def check_machine_id(text: str, source: str = "--machine-id") -> str:
    if not _ID.fullmatch(text):
        raise MachineIdError(f"{source} {text[:MAX_LENGTH + 8]!r}: use 1 to {MAX_LENGTH}"
                             " letters, digits, '.', '_' or '-', starting with a letter"
                             " or a digit")  # fmt: skip
    if text in RESERVED:
        raise MachineIdError(f"{source} {text!r} is reserved (it names every machine:"
                             f" holds/{text}, config/{text}); choose another id")  # fmt: skip
    return text


def machine_id(explicit: str | None, machine_id_file: str = "/etc/machine-id") -> str:
    """The explicit id, else the file's; checked either way."""
    if explicit is not None:
        return check_machine_id(explicit)
    try:
        with open(machine_id_file) as f:
            found = f.read().strip()
    except OSError as exc:
        raise MachineIdError(f"no --machine-id and {machine_id_file}: {exc}") from None
    if not found:
        raise MachineIdError(f"{machine_id_file} is empty; pass --machine-id")
    return check_machine_id(found, machine_id_file)
