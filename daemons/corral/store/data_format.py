"""The format of corral-store's data directory (see `corral.formats`).

Format 1: `store.db` (SQLite: tables `nodes`, `events`, `meta`, each row with a CRC-32)
and the commit logs `store.log` and `store.log.1` (CRC-framed JSON batches, see
commitlog.py and batch.py); what 0.1.0 wrote, without a marker. A change to any of
them that older code would misread adds a step to `MIGRATIONS` (and so a format);
one it reads correctly (a new table it ignores) does not.
"""

from __future__ import annotations

from pathlib import PurePath

from corral.formats import Format, Migration

MIGRATIONS: tuple[Migration, ...] = ()

DATA_FORMAT = Format(
    program="corral-store",
    what="data directory",
    marker=PurePath("FORMAT"),
    migrations=MIGRATIONS,
)
