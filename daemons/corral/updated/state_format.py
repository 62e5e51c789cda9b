"""The format of corral-updated's `--state-dir` (see `corral.formats`).

Format 1, what 0.1.0 wrote without a marker: `updated.json` (the engine's progress
through a release), `trust.json` (the mirror client's accepted root) and
`downloads/` (payloads being fetched or waiting to be installed).
"""

from __future__ import annotations

from pathlib import PurePath

from corral.formats import Format, Migration

MIGRATIONS: tuple[Migration, ...] = ()

STATE_FORMAT = Format(
    program="corral-updated",
    what="state directory",
    marker=PurePath("FORMAT"),
    migrations=MIGRATIONS,
)
