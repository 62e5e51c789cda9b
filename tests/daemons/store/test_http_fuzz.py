"""Ten thousand random requests against a real store: never a 5xx, a crash, a hang or
a lost write.

Batches of random requests (fuzz_requests.py) go over keep-alive connections, some
pipelined; malformed ones go on their own connection, which is then half-closed.
Every answer must be HTTP/1.1 within a deadline, below 500 (the documented 5xx are a
disk that fails, 300, and /health while loading, 503: neither may happen here), and
either an etcd error body whose status matches its errorCode or one of the plain
answers etcd's Go server gives (redirect, 404 page, 405, 400 for what cannot be
parsed, a limit crossed). Every acknowledged write is in the tree afterwards unless a
later acknowledged change could have removed it (`Acknowledged`). Afterwards the store
answers, its tree is well formed, and after a SIGKILL and restart it serves the same
tree: what it acknowledged is on disk. A failure names the seed of its batch.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from corral.etcd_errors import MESSAGES, EtcdError
from corral.testing import StoreServer

from .fuzz_requests import EDGES, FuzzRequest, random_batch, random_malformed
from .http_exchange import Answer, Connection
from .wire import call

BATCHES, BATCH = 200, 50  # 10,000 requests
PLAIN_ANSWERS = {  # compared without the trailing newline, which /v2/auth's 405 lacks
    400: {b"400 Bad Request", b"Bad Request", b"upgrade not supported"},
    404: {b"404 page not found"},
    405: {b"Method Not Allowed"},
    413: {b"http: request body too large"},
    414: {b"414 URI Too Long"},
    431: {b"431 Request Header Fields Too Large"},
}


def target_key(target: bytes) -> str | None:
    """The key a keys request's target names (acknowledged writes have clean, UTF-8
    paths: anything else is redirected or refused), or None."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if b"://" in path:  # absolute form
        rest = path.split(b"://", 1)[1]
        path = rest[rest.find(b"/") :] if b"/" in rest else b"/"
    if not path.startswith(b"/v2/keys"):
        return None
    try:
        key = unquote_to_bytes(path[len(b"/v2/keys") :]).decode()
    except UnicodeDecodeError:
        return None
    return key.rstrip("/") or "/"


def _at_or_below(key: str, top: str) -> bool:
    return top == "/" or key == top or key.startswith(top + "/")


@dataclass
class Acknowledged:
    """The writes the store acknowledged, and what could have undone each since."""

    last: dict[str, int] = field(default_factory=dict)  # key: index of its last write
    leased: set[str] = field(default_factory=set)  # keys ever given a TTL
    removed: list[tuple[str, int]] = field(default_factory=list)  # (key, index)
    unseen: list[str] = field(default_factory=list)  # keys of noValueOnSuccess answers

    def note(self, req: FuzzRequest, answer: Answer) -> None:
        if req.method not in ("PUT", "POST", "DELETE") or not 200 <= answer.status < 300:
            return
        if answer.headers.get("content-type") != "application/json":
            return
        body = json.loads(answer.body)
        node = body.get("node")
        if node is None:  # noValueOnSuccess: only the action was answered
            if req.method == "PUT":  # a POST made a new key, which undoes no other
                self.unseen.append(target_key(req.target) or "/")
            return
        key, index = node["key"], node["modifiedIndex"]
        if body["action"] in ("delete", "compareAndDelete"):
            self.removed.append((key, index))
            return
        if "expiration" in node:
            self.leased.add(key)
        if node.get("dir") and body["action"] == "update":
            return  # a directory's TTL changed: its modifiedIndex stays (as etcd's)
        self.last[key] = index

    def check(self, tree: dict[str, dict[str, Any]]) -> int:
        """Every write that nothing acknowledged since could undo is in `tree`
        (hidden keys aside: listings leave them out); how many were checked."""
        checked = 0
        for key, index in self.last.items():
            if "/_" in key or any(_at_or_below(key, t) for t in self.leased | set(self.unseen)):
                continue
            if any(i > index and _at_or_below(key, k) for k, i in self.removed):
                continue
            node = tree.get(key)
            assert node is not None, f"acknowledged write of {key} at {index} is lost"
            assert node["modifiedIndex"] >= index, f"{key} went back to {node}"
            checked += 1
        return checked


@dataclass
class Run:
    host: str
    port: int
    conn: Connection | None = None
    requests: int = 0
    malformed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    highest_index: int = 0
    acknowledged: Acknowledged = field(default_factory=Acknowledged)

    def connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            if self.conn is not None:
                self.conn.close()
            self.conn = Connection(self.host, self.port)
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def check_answer(req: FuzzRequest | str, answer: Answer, head: bool = False) -> str:
    """What the answer is (status, and errorCode or body); fails on a bad one."""
    what = f"{req!r} answered {answer.status} {answer.headers} {answer.body[:300]!r}"
    assert answer.status < 500, what
    if head:
        return f"{answer.status}"
    if answer.headers.get("content-type") == "application/json":
        body = json.loads(answer.body)
        if answer.status >= 400 and "errorCode" in body:
            code = body["errorCode"]
            assert body["message"] == MESSAGES[code], what
            assert isinstance(body["index"], int), what
            assert EtcdError.from_code(code).status == answer.status, what
            return f"{answer.status} errorCode {code}"
        if answer.status >= 400:
            assert "message" in body, what  # /v2/auth's own errors, as etcd writes them
    elif answer.status == 301:
        assert answer.headers.get("location"), what
    elif answer.status >= 400:
        text = answer.body.rstrip(b"\n")
        assert text in PLAIN_ANSWERS.get(answer.status, set()), what
        return f"{answer.status} {text.decode()}"
    return f"{answer.status}"


def run_batch(run: Run, batch: list[FuzzRequest], groups: list[int]) -> None:
    """Send the batch in pipelined groups; every request gets exactly its answer."""
    i = 0
    sizes = iter(groups)
    while i < len(batch):
        group: list[FuzzRequest] = []
        size = next(sizes, 1)
        while i < len(batch) and len(group) < size:
            group.append(batch[i])
            i += 1
            if group[-1].closes:
                break
        conn = run.connection()
        methods = [r.method for r in group]
        answers = conn.exchange(b"".join(r.encode() for r in group), methods)
        if len(answers) != len(group):
            shown = [f"{a.status} {a.body[:80]!r}" for a in answers]
            raise AssertionError(f"{group[len(answers)]!r} got no answer; {group} got {shown}")
        for req, answer in zip(group, answers, strict=True):
            seen = check_answer(req, answer, head=req.method == "HEAD")
            run.statuses[seen] = run.statuses.get(seen, 0) + 1
            run.acknowledged.note(req, answer)
            if answer.status < 300 and "x-etcd-index" in answer.headers:
                index = int(answer.headers["x-etcd-index"])
                assert index >= run.highest_index, f"{req!r}: the index went back"
                run.highest_index = index
            if answer.closes and req is not group[-1]:
                raise AssertionError(f"{req!r}: closed with requests still pipelined")
        run.requests += len(group)
        if group[-1].closes or answers[-1].closes:
            run.drop()


def send_malformed(run: Run, name: str, data: bytes, answers_due: int | None = None) -> None:
    conn = Connection(run.host, run.port)
    try:
        if answers_due is None:  # end of input: the server must answer or close, not wait
            answers = conn.exchange(data, [], half_close=True)
        else:
            answers = conn.exchange(data, ["PUT"] * answers_due)
            assert len(answers) == answers_due, f"{name}: no answer"
    finally:
        conn.close()
    for answer in answers:
        check_answer(name, answer)
    run.malformed += 1


def _flatten(node: dict[str, Any], out: dict[str, dict[str, Any]], ttl_above: bool) -> None:
    """key -> node without children; nodes under a TTL marked, since they may expire."""
    leased = ttl_above or "expiration" in node
    out[node.get("key", "/")] = {
        **{k: v for k, v in node.items() if k not in ("nodes", "ttl")},
        "leased": leased,
    }
    children = node.get("nodes", [])
    keys = [c["key"] for c in children]
    assert keys == sorted(keys), "sorted=true answered unsorted"
    for child in children:
        parent = node.get("key", "")
        assert child["key"].startswith(parent + "/") and "/" not in child["key"][len(parent) + 1 :]
        assert child["createdIndex"] <= child["modifiedIndex"]
        assert ("value" in child) != bool(child.get("dir")), child
        _flatten(child, out, leased)


def _tree(server: StoreServer) -> tuple[dict[str, dict[str, Any]], int]:
    answer = call(server.url, "GET", "/v2/keys/", query={"recursive": "true", "sorted": "true"})
    assert answer.status == 200, answer.body
    index = int(answer.headers["X-Etcd-Index"])
    flat: dict[str, dict[str, Any]] = {}
    _flatten(answer.json["node"], flat, False)
    assert all(n.get("modifiedIndex", 0) <= index for n in flat.values())
    return flat, index


def test_thousands_of_random_requests_never_break_the_store(tmp_path: Path) -> None:
    server = StoreServer(tmp_path / "fuzz").start()
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    run = Run(parts.hostname, parts.port)

    @settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # each failure names its request
        suppress_health_check=list(HealthCheck),
    )
    @given(st.integers(0, 2**64 - 1))
    def fuzz(seed: int) -> None:
        rnd = random.Random(seed)
        run_batch(run, *random_batch(rnd, BATCH))
        for _ in range(rnd.choice([0, 1, 2])):
            data = random_malformed(rnd)
            send_malformed(run, f"malformed {data[:200]!r}", data)

    try:
        for name, data in EDGES:
            send_malformed(run, name, data, None if data.endswith(b"a" * 100) else 1)
        fuzz()
        run.drop()
        assert run.requests >= 10_000, run.requests
        assert run.statuses.get("201", 0) >= 150, run.statuses  # enough writes to check
        assert server.alive()
        assert call(server.url, "GET", "/health").status == 200
        before, index = _tree(server)
        assert index >= run.highest_index
        checked = run.acknowledged.check(before)
        assert checked >= 100, f"only {checked} acknowledged writes could be checked"
        server.kill()
        server.start()
        after, index_after = _tree(server)
        assert index_after >= index
        lasting = {k: n for k, n in before.items() if not n["leased"]}
        assert {k: n for k, n in after.items() if not n["leased"]} == lasting
        written = call(server.url, "PUT", "/v2/keys/after-fuzz", form={"value": "v"})
        assert written.json["node"]["modifiedIndex"] > index_after  # no index reused
    finally:
        run.drop()
        server.stop()
    log = server.log_text()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    shown = ", ".join(f"{k}: {n}" for k, n in sorted(run.statuses.items()))
    print(f"{run.requests} requests, {run.malformed} malformed, {checked} writes checked;")
    print(f"answers {shown}")
