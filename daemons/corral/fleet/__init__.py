"""corral-fleet: fleet's scheduler (engine, agents, executors) over the Corral store.

Pure cores (no I/O, tested with plain calls): `unitfile` (systemd's unit syntax),
`names` (unit names, templates, specifiers), `metadata` (MachineMetadata expressions),
`spec` (a unit's [X-Fleet] options and their validation), `scheduler` (placement with
incremental indexes), `wanted` (an agent's units, kept current event by event),
`convergence` (what an agent must do), `records` (the JSON kept in the store).
Everything else does I/O: `watched_keys` (one watch of the store per process, shared by
the agent and its engine), `engine`, `agent`, `election`, the executors and `cli`.
"""
