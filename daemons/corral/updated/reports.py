"""Reading and writing the machines' verdicts and what the canary choice needs (I/O
around `verdicts`).

A machine keeps at most MAX_REPORTS reports of its own (the oldest go first), so that
reading every machine's reports, which each machine does while it decides to install or
reboot, stays bounded by the fleet's size.
"""

from __future__ import annotations

import contextlib

from corral.client import Client, EtcdError, KeyNode
from corral.etcd_errors import KeyNotFound
from corral.updated import records as r
from corral.updated.verdicts import Candidate, Reports

# per machine: its latest verdicts are all a rollout needs, and everyone reads them all
MAX_REPORTS = 8


def _tree(client: Client, key: str) -> list[KeyNode]:
    try:
        return client.get(key, recursive=True, sorted=True).node.nodes
    except KeyNotFound:
        return []


def read_reports(client: Client) -> Reports:
    """Every machine's verdicts. The machine is the one the key names (a record cannot
    speak for another); unreadable records are skipped."""
    out: dict[str, dict[str, r.Verdict]] = {}
    for machine in _tree(client, r.REPORTS):
        for node in machine.nodes:
            with contextlib.suppress(r.UpdateRecordError):
                v = r.decode(r.Verdict, node.value)
                if v.verdict in r.VERDICTS:
                    v.machine, v.release_id = machine.name, node.name
                    out.setdefault(machine.name, {})[node.name] = v
    return out


def legacy_bad(client: Client) -> list[r.BadRelease]:
    """The earlier layout's bad marks (`bad/<release_id>`)."""
    out = []
    for node in _tree(client, r.BAD):
        try:
            out.append(r.decode(r.BadRelease, node.value))
        except r.UpdateRecordError:
            out.append(r.BadRelease(node.name, "?", "?", "unreadable record", ""))
    return out


def write_report(client: Client, verdict: r.Verdict) -> None:
    """Write this machine's verdict, then drop its own oldest beyond MAX_REPORTS:
    `proven` ones first, since a `failed` one is what keeps a release from the fleet."""
    mine = f"{r.REPORTS}/{verdict.machine}"
    key = f"{mine}/{verdict.release_id}"
    client.set(key, r.encode(verdict))
    others = [n for n in _tree(client, mine) if n.key != key]
    for old in sorted(others, key=lambda n: (_failed(n), n.modified_index))[
            : max(0, len(others) + 1 - MAX_REPORTS)]:  # fmt: skip
        with contextlib.suppress(EtcdError):
            client.delete(old.key, prev_index=old.modified_index)


def _failed(node: KeyNode) -> bool:
    try:
        return r.decode(r.Verdict, node.value).verdict == r.FAILED
    except r.UpdateRecordError:
        return False


def named_canaries(client: Client) -> list[str]:
    return [n.name for n in _tree(client, r.CANARIES)]


def candidates(client: Client) -> list[Candidate]:
    """Every machine that publishes a status, with its heartbeat, channel and hold."""
    alive = {n.name for n in _tree(client, r.ALIVE)}
    holds = {n.name for n in _tree(client, r.HOLDS)}
    out = []
    for node in _tree(client, r.MACHINES):
        if node.dir:
            continue
        try:
            channel = r.decode(r.MachineStatus, node.value).channel
        except r.UpdateRecordError:
            continue
        out.append(Candidate(node.name, node.name in alive, channel,
                             node.name in holds or r.HOLD_ALL in holds))  # fmt: skip
    return out
