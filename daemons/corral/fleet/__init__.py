"""corral-fleet: fleet's scheduler (engine, agents, executors) over the Corral store.

Pure cores (no I/O, tested with plain calls): `unitfile` (systemd's unit syntax),
`names` (unit names, templates, specifiers), `metadata` (MachineMetadata expressions),
`spec` (a unit's [X-Fleet] options and their validation), `scheduler` (placement with
incremental indexes), `records` (the JSON kept in the store). Everything else does I/O:
`registry`/`mirror` (the store), `engine`, `agent`, `election`, the executors and `cli`.
"""
