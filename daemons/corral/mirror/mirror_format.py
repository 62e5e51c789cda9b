"""The format of a mirror directory as this program keeps it (see `corral.formats`).

The marker is `.corral-mirror/FORMAT`, in the private work area: never served (hidden
segments are not found, `request_target`), never exported (a bundle lists its files),
never imported (a bundle member outside the public layout is refused). It describes
how corral-mirror keeps the directory (work area, file layout as this program writes
it), not what readers see.

Readers over HTTP (`sync` from an upstream, corral-updated, any static server) are not
concerned: the public layout (package docstring) is the wire contract, and it is
versioned by its signed documents (root and release fields, `corral.trust`), which a
reader verifies and refuses when it does not understand them. Changing it is a
change of those documents, not a step here.

Format 1: the layout of the package docstring with `.corral-mirror/` holding `lock`,
`partial/` and `import-*` staging; what 0.1.0 wrote, without a marker.
"""

from __future__ import annotations

from pathlib import PurePath

from corral.formats import Format, Migration
from corral.mirror.layout import WORK

MIGRATIONS: tuple[Migration, ...] = ()

MIRROR_FORMAT = Format(
    program="corral-mirror",
    what="mirror",
    marker=PurePath(WORK) / "FORMAT",
    migrations=MIGRATIONS,
)
