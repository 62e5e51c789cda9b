"""Descriptors for many simulated machines' connections, in the simulator and the store."""

from __future__ import annotations

import resource

# descriptors each simulated machine holds: its connections (11, fleet_sim.ROLES: the
# agent's writes, heartbeat, candidacy, leader watch and four scope watches; the update
# daemon's heartbeat and two watches) and one spare for a reconnect
FDS_PER_MACHINE = 12


def raise_fd_limit(machines: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it) to fit `machines`,
    up to the hard limit; beyond it, exit with a message saying what is needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = machines * FDS_PER_MACHINE + 64
    if soft >= want:
        return
    if hard != resource.RLIM_INFINITY and hard < want:
        raise SystemExit(f"{machines} machines need {want} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
