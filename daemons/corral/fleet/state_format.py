"""The format of corral-fleet's `--state-dir` (see `corral.formats`).

Format 1, what 0.1.0 wrote without a marker: `launched/<unit>` (the agent: units it
launched, so a restart knows them), `units/<name>/` (the process executor: `name`,
`unit`, and the supervisor's `supervisor.pid`, `status.json`, `journal.log`) and
`systemd-units/` (the systemd executor: the unit files it wrote).
"""

from __future__ import annotations

from pathlib import PurePath

from corral.formats import Format, Migration

MIGRATIONS: tuple[Migration, ...] = ()

STATE_FORMAT = Format(
    program="corral-fleet",
    what="state directory",
    marker=PurePath("FORMAT"),
    migrations=MIGRATIONS,
)
