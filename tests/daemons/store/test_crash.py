"""SIGKILL under concurrent writers, 20 times: nothing acknowledged is ever lost.

Each round, 16 writers put and delete keys of their own, and now and then delete
their whole directory, which their next put makes again (each writer sends one
request at a time); the store is SIGKILLed at a random moment and restarted. After
every restart each key the test ever wrote must be in the state its last
acknowledged write left, with that write's value and index, unless the one request
its writer had in flight at the kill landed (the only other state allowed). No two
acknowledged writes share an index, and the index never goes back. A large key
rewritten first passes the commit log's limit (16 MiB), so the rounds start from a
snapshot, and values of up to 16 KB make later folds of the log into it likely
while writers run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from corral.store.disk import LOG_LIMIT
from corral.testing import StoreServer

from .wire import call

ROUNDS = 20
WRITERS = 16
KEYS_PER_WRITER = 7
Absent = None  # the state of a deleted (or never written) key


@dataclass
class State:
    value: str | None  # Absent for a deleted key
    index: int  # of the write that left this state (0: never written)

    def __repr__(self) -> str:  # values run to 16 KB: their start says which write
        value = "absent" if self.value is Absent else f"{self.value[:24]!r}..."
        return f"State({value}, index {self.index})"


@dataclass
class Round:
    acked: dict[str, State] = field(default_factory=dict)  # the last answered write per key
    in_flight: dict[str, str | None] = field(default_factory=dict)  # sent, never answered
    indexes: list[int] = field(default_factory=list)  # of every acknowledged write


async def _writer(url: str, n: int, rnd: random.Random, out: Round, stop_after: float) -> None:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_after
    try:
        r, w = await asyncio.open_connection(parts.hostname, parts.port)
    except OSError:
        return
    try:
        i = 0
        while loop.time() < deadline:
            key = f"/crash/w{n}/k{rnd.randrange(KEYS_PER_WRITER)}"
            dice = rnd.random()
            if dice < 0.03:  # the writer's whole directory, made again by the next put
                targets = {f"/crash/w{n}/k{k}": Absent for k in range(KEYS_PER_WRITER)}
                request = f"DELETE /v2/keys/crash/w{n}?recursive=true HTTP/1.1\r\n"
                request = (request + "Host: x\r\n\r\n").encode()
            elif dice < 0.1:
                targets = {key: Absent}
                request = f"DELETE /v2/keys{key} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            else:
                value = f"{n}-{i}-" + "v" * rnd.choice([8, 1000, 8000, 16000])
                targets = {key: value}
                body = urlencode({"value": value}).encode()
                request = (
                    f"PUT /v2/keys{key} HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
            out.in_flight.update(targets)
            w.write(request)
            head = await r.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            answer = json.loads(await r.readexactly(length))
            for target in targets:
                del out.in_flight[target]
            if head.startswith(b"HTTP/1.1 20"):
                index = answer["node"]["modifiedIndex"]
                out.acked.update((target, State(v, index)) for target, v in targets.items())
                out.indexes.append(index)
            else:  # only a delete of an absent key or directory may be refused
                assert Absent in targets.values() and answer["errorCode"] == 100, answer
            i += 1
    except (OSError, asyncio.IncompleteReadError):
        return  # killed mid-request: that one write was never acknowledged
    finally:
        w.close()


def _crash_round(server: StoreServer, rnd: random.Random) -> Round:
    out = Round()
    kill_after = rnd.uniform(0.05, 0.4)
    seeds = [rnd.random() for _ in range(WRITERS)]

    async def run() -> None:
        writers = [
            asyncio.create_task(_writer(server.url, n, random.Random(seeds[n]), out, 5.0))
            for n in range(WRITERS)
        ]
        await asyncio.sleep(kill_after)  # the random moment of the crash, not a readiness wait
        server.kill()
        await asyncio.gather(*writers)

    asyncio.run(run())
    return out


def _read(server: StoreServer, key: str) -> State:
    answer = call(server.url, "GET", "/v2/keys" + key)
    if answer.status == 404:
        return State(Absent, 0)
    assert answer.status == 200, answer.body
    node = answer.json["node"]
    return State(node["value"], node["modifiedIndex"])


def test_sigkill_under_concurrent_writers_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    server = StoreServer(tmp_path / "crash").start()
    known: dict[str, State] = {}  # every key ever written: the state it must be in
    acked_total = 0
    try:
        for i in range(LOG_LIMIT // (2 << 20) + 2):  # one key rewritten: a small tree to check
            value = f"{i}-" + "p" * (1 << 20)
            answer = call(server.url, "PUT", "/v2/keys/crash/large", form={"value": value})
            known["/crash/large"] = State(value, answer.json["node"]["modifiedIndex"])
        files = [server.data_dir / f for f in ("store.db", "store.db-wal")]
        assert sum(f.stat().st_size for f in files if f.exists()) > 1 << 20, "no fold yet"
        all_indexes = [known["/crash/large"].index]
        for n in range(ROUNDS):
            done = _crash_round(server, rnd)
            server.start()
            where = f"round {n} (seed {seed})"
            expected = {**known, **done.acked}
            for key, state in expected.items():
                got = _read(server, key)
                kept = got.value is Absent if state.value is Absent else got == state
                if not kept:
                    # only the write in flight at the kill may have landed after it
                    assert key in done.in_flight, f"{where}: {key} was {state}, is {got}"
                    assert got.value == done.in_flight[key], f"{where}: {key} is {got}"
                    assert got.value is Absent or got.index > state.index, f"{where}: {key}"
                known[key] = got if got.value is not Absent else State(Absent, state.index)
            all_indexes += done.indexes
            assert len(set(all_indexes)) == len(all_indexes), f"{where}: an index reused"
            index = int(call(server.url, "GET", "/v2/keys/").headers["X-Etcd-Index"])
            assert index >= max(all_indexes, default=0), f"{where}: the index went back"
            acked_total += len(done.indexes)
    finally:
        server.stop()
    assert acked_total > 100, "too few acknowledged writes for the test to mean anything"
    assert "Traceback" not in server.log_text()
