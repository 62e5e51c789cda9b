"""Simulated machines for the fleet scale phase: per machine, the requests a real
corral-fleet agent and a real corral-updated daemon make, many machines per process.

    python -m bench.phases.fleet_sim ENDPOINT FIRST COUNT TTL

Per machine, as `corral.fleet.agent`, `corral.fleet.watched_keys`, `corral.follow`,
`corral.fleet.election` and `corral.updated.control` do them (same keys, same
requests, same intervals):

- agent start: GET of its machine record, then PUT with the agent TTL.
- its watched keys (`agent_scopes`): for each of `units/`, `schedule/`, its own record and
  `update/drain/<machine>`, a recursive GET, then one long-poll recursive watch from
  the next index, one request per event, each on its own connection; on error 401 (fell
  out of the store's history) that scope is read again. Every event is decoded; a
  `schedule/` event naming this machine (or moving a unit off it) is reported in
  `states/<machine>/<unit>` as `active` (or deleted), as the agent's publish does.
- heartbeat: refresh of the record at a third of the TTL (recreated if it expired).
- engine candidacy: one `create` of `engine/leader` (prevExist=false, TTL), refused
  while the real engine holds it; then a GET of the key and a watch of it from the
  GET's index, campaigning again only once the key is gone. Refreshes of the lease wake
  no one. A machine that wins renews with a conditional refresh at a third of the TTL.
- corral-updated: `alive/<machine>` with its 5 min TTL, refreshed every 100 s; its
  settings (`config/`) and requests (`requests/<machine>/`) followed like the watched keys'
  scopes (a GET, then a watch each): its 1 s tick asks the store nothing.

What is left out: no units run (no executor), no update checks against a mirror
(hourly), no engine work (the phase runs one real engine). Connections: one per role
and machine, as the real daemons hold them (`ROLES`). Everything runs on one asyncio
loop (uvloop) with raw keep-alive HTTP/1.1 (bench.connection), so one process carries
hundreds of machines.

The process prints "ready" once every machine is registered and watching; each line
"count" on stdin prints one JSON line: its request counts so far, and the index the
slowest machine's watch has followed the store to; end of stdin stops it, and it
prints that line a last time.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import Awaitable, Coroutine
from typing import Any
from urllib.parse import urlencode, urlsplit

import uvloop

from bench.connection import Connection, connect
from bench.fdlimit import raise_fd_limit
from bench.fleet_rates import UPDATED_ALIVE_TTL
from bench.wire import Response, get_request, keys_path
from corral.etcd_errors import EtcdError, EventIndexCleared, KeyNotFound, NodeExist
from corral.fleet.agent import agent_scopes
from corral.fleet.records import (
    LEADER,
    MACHINES,
    SCHEDULE,
    MachineRecord,
    StateRecord,
    encode,
    key_name,
    state_key,
)
from corral.updated.records import ALIVE, CONFIG, REQUESTS

GONE = ("delete", "expire", "compareAndDelete")
# the connections one machine holds: the agent's (writes, heartbeat, candidacy, the
# leader's watch, one per watched scope) and corral-updated's (heartbeat, two watches)
ROLES = ("agent", "heartbeat", "engine", "leader", "units", "schedule", "record", "drain",
         "alive", "config", "requests")  # fmt: skip


def form_request(method: str, host: str, path: str, form: dict[str, str] | None = None) -> bytes:
    body = urlencode(form or {}).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if form is not None:
        head += "Content-Type: application/x-www-form-urlencoded\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class Link:
    """One keep-alive connection a daemon holds; reconnects once after a failure."""

    def __init__(self, url: str, counts: Counter[str]) -> None:
        self.url = url
        self.conn: Connection | None = None
        self.lock = asyncio.Lock()
        self.counts = counts

    async def call(self, what: str, request: bytes) -> Response:
        async with self.lock:
            for attempt in (1, 2):
                if self.conn is None or self.conn.closed is not None:
                    self.conn = await connect(self.url)
                try:
                    response, _ = await self.conn.send(request)
                except (ConnectionError, OSError):
                    self.conn = None
                    if attempt == 2:
                        self.counts["errors"] += 1
                        raise
                    continue
                self.counts[what] += 1
                return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()


def _error(response: Response) -> EtcdError | None:
    """The etcd error a failed answer carries (None for a success or another body)."""
    if response.status < 400:
        return None
    try:
        body = json.loads(response.body)
        return EtcdError.from_body(body, response.status) if isinstance(body, dict) else None
    except ValueError:  # not JSON, or not an etcd error body
        return None


class Machine:
    def __init__(self, mid: str, url: str, ttl: int, counts: Counter[str]) -> None:
        self.mid = mid
        self.url = url
        self.host = urlsplit(url).netloc
        self.ttl = ttl
        self.counts = counts
        self.links = {role: Link(url, counts) for role in ROLES}
        scopes = dict(zip(("units", "schedule", "record", "drain"), agent_scopes(mid),
                          strict=True))  # fmt: skip
        self.scopes = {**scopes, "config": CONFIG, "requests": f"{REQUESTS}/{mid}"}
        self.record = encode(MachineRecord(mid, hostname=mid, ip="127.0.0.1"))
        self.state = encode(StateRecord(mid, active="active", sub="running"))
        self.placed: set[str] = set()  # units scheduled here and reported
        self.seen: dict[str, int] = {}  # scope -> the store index its watch followed to
        self.ready = asyncio.Event()

    def _req(self, method: str, key: str, form: dict[str, str] | None = None, q: str = "") -> bytes:
        path = keys_path(key) + (f"?{q}" if q else "")
        return form_request(method, self.host, path, form)

    async def register(self) -> None:
        agent = self.links["agent"]
        await agent.call("register", get_request(self.host, keys_path(f"{MACHINES}/{self.mid}")))
        form = {"value": self.record, "ttl": str(self.ttl)}
        await agent.call("register", self._req("PUT", f"{MACHINES}/{self.mid}", form))
        alive = {"value": "alive", "ttl": str(UPDATED_ALIVE_TTL)}
        await self.links["alive"].call("alive", self._req("PUT", f"{ALIVE}/{self.mid}", alive))

    async def follow(self) -> None:
        """Every scope followed as `corral.follow` does; ready once all were read."""
        started = [asyncio.Event() for _ in self.scopes]
        pairs = zip(self.scopes.items(), started, strict=True)
        jobs = [
            asyncio.ensure_future(self._follow(role, root, read)) for (role, root), read in pairs
        ]
        for read in started:
            await read.wait()
        self.ready.set()
        await asyncio.gather(*jobs)

    async def _follow(self, role: str, root: str, read: asyncio.Event) -> None:
        """One scope: read it, then one watch after another from the next index."""
        link = self.links[role]
        while True:
            response = await link.call("tree_reads", get_request(
                self.host, keys_path(root) + "?recursive=true"))  # fmt: skip
            if role == "schedule":
                await self._resync(response)
            index = (response.etcd_index or 0) + 1
            self.seen[role] = index - 1
            read.set()
            while True:
                watch = get_request(
                    self.host, keys_path(root) + f"?wait=true&recursive=true&waitIndex={index}"
                )
                response = await link.call("watch_events", watch)
                if isinstance(_error(response), EventIndexCleared):
                    self.counts["watch_401"] += 1
                    break  # fell behind the history: read the scope again
                if response.status != 200:
                    self.counts["errors"] += 1
                    await asyncio.sleep(0.5)  # corral.follow's retry pause
                    break
                event = json.loads(response.body)
                node = event["node"]
                index = int(node["modifiedIndex"]) + 1
                self.seen[role] = index - 1
                if role == "schedule":
                    await self._on_event(event["action"], node["key"], node.get("value"))

    async def _resync(self, response: Response) -> None:
        if response.status != 200:
            return
        mine = set()
        for node in json.loads(response.body)["node"].get("nodes") or []:
            if self._scheduled_here(node.get("value")):
                mine.add(node["key"].rsplit("/", 1)[1])
        for unit in sorted(mine - self.placed):
            await self._report(unit, True)
        for unit in sorted(self.placed - mine):
            await self._report(unit, False)

    def _scheduled_here(self, value: str | None) -> bool:
        try:
            return bool(json.loads(value or "").get("machine") == self.mid)
        except (ValueError, AttributeError):
            return False

    async def _on_event(self, action: str, key: str, value: str | None) -> None:
        unit = key_name(key, SCHEDULE)
        if unit is None:
            return
        here = action not in ("delete", "expire", "compareAndDelete") and self._scheduled_here(
            value
        )
        if here and unit not in self.placed:
            await self._report(unit, True)
        elif not here and unit in self.placed:
            await self._report(unit, False)

    async def _report(self, unit: str, running: bool) -> None:
        key = state_key(self.mid, unit)
        if running:
            self.placed.add(unit)
            request = self._req("PUT", key, {"value": self.state})
        else:
            self.placed.discard(unit)
            request = self._req("DELETE", key)
        await self.links["agent"].call("state_writes", request)

    async def heartbeat(self) -> None:
        key = f"{MACHINES}/{self.mid}"
        refresh = {"refresh": "true", "prevExist": "true", "ttl": str(self.ttl)}
        while True:
            await asyncio.sleep(self.ttl / 3)
            response = await self.links["heartbeat"].call(
                "heartbeats", self._req("PUT", key, refresh)
            )
            if isinstance(_error(response), KeyNotFound):  # expired: written again
                self.counts["expired"] += 1
                form = {"value": self.record, "ttl": str(self.ttl), "prevExist": "false"}
                await self.links["heartbeat"].call("heartbeats", self._req("PUT", key, form))

    async def campaign(self) -> None:
        """`corral.fleet.election`: campaign, and while another holds the key, wait
        for it to go with a watch (no request while it is held)."""
        engine, leader = self.links["engine"], self.links["leader"]
        create = {"value": self.mid, "ttl": str(self.ttl), "prevExist": "false"}
        renew = {"refresh": "true", "prevExist": "true", "prevValue": self.mid,
                 "ttl": str(self.ttl)}  # fmt: skip
        while True:
            response = await engine.call("campaigns", self._req("PUT", LEADER, create))
            while response.status < 300:  # won: renew until the renewal fails
                await asyncio.sleep(self.ttl / 3)
                response = await engine.call("campaigns", self._req("PUT", LEADER, renew))
            if not isinstance(_error(response), NodeExist):
                await asyncio.sleep(self.ttl / 3)
                continue
            held = await engine.call("campaigns", get_request(self.host, keys_path(LEADER)))
            if held.status != 200:
                continue  # gone meanwhile: campaign again
            index = (held.etcd_index or 0) + 1
            while True:
                watch = get_request(self.host, keys_path(LEADER) + f"?wait=true&waitIndex={index}")
                response = await leader.call("watch_events", watch)
                if response.status != 200:
                    if not isinstance(_error(response), EventIndexCleared):
                        await asyncio.sleep(0.5)  # the election's retry pause
                    break
                event = json.loads(response.body)
                if event["action"] in GONE:
                    break
                index = int(event["node"]["modifiedIndex"]) + 1

    async def alive(self) -> None:
        refresh = {"refresh": "true", "prevExist": "true", "ttl": str(UPDATED_ALIVE_TTL)}
        while True:
            await asyncio.sleep(UPDATED_ALIVE_TTL / 3)
            await self.links["alive"].call("heartbeats", self._req("PUT", f"{ALIVE}/{self.mid}",
                                                                   refresh))  # fmt: skip

    def close(self) -> None:
        for link in self.links.values():
            link.close()


def _report(counts: Counter[str], machines: list[Machine]) -> str:
    """Counts so far, and how far the slowest machine's placements watch has followed
    the store (the only scope placing units changes)."""
    behind = min((m.seen.get("schedule", 0) for m in machines), default=0)
    return json.dumps({"counts": counts, "slowest_watch_index": behind})


async def _guarded(counts: Counter[str], job: Awaitable[None]) -> None:
    try:
        await job
    except (ConnectionError, OSError):
        counts["failed_roles"] += 1


async def run(url: str, ids: list[str], ttl: int) -> int:
    counts: Counter[str] = Counter()
    machines = [Machine(mid, url, ttl, counts) for mid in ids]
    for start in range(0, len(machines), 50):  # registered in groups, as hosts boot
        await asyncio.gather(*(m.register() for m in machines[start : start + 50]))
    tasks = []
    rng = random.Random(ids[0] if ids else "")
    for m in machines:
        tasks.append(asyncio.ensure_future(_guarded(counts, m.follow())))
    await asyncio.gather(*(m.ready.wait() for m in machines))
    for m in machines:
        periods = {m.heartbeat: ttl / 3, m.campaign: ttl / 3, m.alive: UPDATED_ALIVE_TTL / 3}
        for job, period in periods.items():
            # independent hosts: each loop starts at its own point of its period
            delay = rng.random() * period
            tasks.append(asyncio.ensure_future(_guarded(counts, _after(delay, job()))))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"count":
            print(_report(counts, machines), flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for m in machines:
        m.close()
    print(_report(counts, machines), flush=True)
    return 0


async def _after(delay: float, job: Coroutine[Any, Any, None]) -> None:
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        job.close()  # stopped before it began
        raise
    await job


def main(argv: list[str]) -> int:
    endpoint, first, count, ttl = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    raise_fd_limit(count)
    ids = [f"sim{i:05d}" for i in range(first, first + count)]
    return uvloop.run(run(endpoint, ids, ttl))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
