"""Run a scenario against one server and return its normalised records.

Isolation on a shared server: before a scenario the runner deletes the scenario's
directory, then writes the hidden key `/_conformance` and takes the index of that
write as the scenario's base (so the base is never 0 and every later index is
relative to a write both servers made); afterwards it deletes the directory again,
which also cancels pending TTLs so no expiry lands in the next scenario.

A long poll counts as registered once the server has started answering it (etcd
flushes the headers at once) or once `/v2/stats/store` counts one more watcher.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from corral.testing import wait_until

from .normalise import (
    Record,
    decode_body,
    normalise_body,
    normalise_reply,
    relative_text,
    select,
    shape,
)
from .steps import (
    Await,
    Call,
    Curl,
    Etcdctl,
    Hangup,
    PollUntil,
    Repeat,
    Scenario,
    Step,
    Watch,
    WatcherCount,
)
from .wire import READ_TIMEOUT, Connection, Reply, Request

# `{i+N}` (`{I+N}`: as an in-order key's 20-digit name), also as quote() and
# urlencode() leave it in a URL: `%7Bi%2BN%7D`.
TEMPLATE = re.compile(r"(?:\{|%7B)([iI])(%2B|\+|-)(\d+)(?:\}|%7D)")
WATCH_TIMEOUT = 10.0
CURL_STATUS = re.compile(r"^< HTTP/[\d.]+ (\d{3})", re.M)  # curl -v: every status line


class Runner:
    """One run of one scenario on one server: a main connection, one connection per
    pending long poll, and the base index that `{i+N}` and the records count from."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = Connection(url)
        self.watches: dict[str, Connection] = {}
        self.base = 0

    def close(self) -> None:
        self.conn.close()
        for conn in self.watches.values():
            conn.close()
        self.watches.clear()

    def run(self, scenario: Scenario) -> list[Record]:
        try:
            self._clean(scenario)
            start = self.conn.exchange(Request("PUT", "/v2/keys/_conformance", (("value", "x"),)))
            self.base = int(start.header("x-etcd-index") or 0)
            assert start.status in (200, 201) and self.base > 0, f"cannot start: {start}"
            return [rec for step in scenario.steps if (rec := self.step(step)) is not None]
        finally:
            self._clean(scenario)
            self.close()

    def _clean(self, scenario: Scenario) -> None:
        self.conn.exchange(Request("DELETE", f"/v2/keys{scenario.root}?recursive=true"))

    def fill(self, text: str) -> str:
        def index(m: re.Match[str]) -> str:
            offset = int(m.group(3))
            value = self.base - offset if m.group(2) == "-" else self.base + offset
            return f"{value:020d}" if m.group(1) == "I" else str(value)

        return TEMPLATE.sub(index, text)

    def fill_request(self, req: Request) -> Request:
        form = tuple((k, self.fill(v)) for k, v in req.form)
        return replace(req, target=self.fill(req.target), form=form)

    def record(self, label: str, reply: Reply, request: Request | None = None) -> Record:
        ordered = request is not None and "sorted=true" in request.target
        # The server's own URL (in /v2/machines, /v2/members) is "<url>" on every server.
        reply = replace(reply, body=reply.body.replace(self.url.encode(), b"<url>"))
        rec = normalise_reply(reply, self.base, datetime.now(UTC), ordered)
        return {"step": label, **rec}

    def step(self, step: Step) -> Record | None:
        if isinstance(step, Call):
            return self._call(step)
        if isinstance(step, Watch):
            self._watch(step)
            return None
        if isinstance(step, Await):
            return self._await(step)
        if isinstance(step, Hangup):
            self.watches.pop(step.name).close()
            return None
        if isinstance(step, WatcherCount):
            return self._watcher_count(step)
        if isinstance(step, PollUntil):
            return self._poll(step)
        if isinstance(step, Repeat):
            req = self.fill_request(step.request)
            for _ in range(step.count):
                reply = self.conn.exchange(req)
                assert reply.status < 300, f"{step.label}: {reply}"
            return None
        if isinstance(step, Etcdctl):
            return self._etcdctl(step)
        return self._curl(step)

    def _call(self, step: Call) -> Record:
        req = self.fill_request(step.request)
        conn = Connection(self.url) if req.raw is not None else self.conn
        try:
            reply = conn.exchange(req)
        except TimeoutError:
            return {"step": step.label, "status": f"no answer within {READ_TIMEOUT} s"}
        finally:
            if conn is not self.conn:
                conn.close()
        if step.shape:
            return {"step": step.label, "status": reply.status, "body": shape(decode_body(reply))}
        rec = self.record(step.label, reply, req)
        rec["status_class"] = "dropped" if reply.status == 0 else f"{reply.status // 100}xx"
        return select(rec, step.only or ("status", "headers", "body"))

    def _watchers(self) -> int | None:
        reply = self.conn.exchange(Request("GET", "/v2/stats/store"))
        body = decode_body(reply)
        count = body.get("watchers") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None

    def _watch(self, step: Watch) -> None:
        before = self._watchers()
        conn = Connection(self.url)
        self.watches[step.name] = conn
        conn.send(self.fill_request(step.request))

        def registered() -> bool:
            if conn.answered():
                return True
            now = self._watchers()
            return before is not None and now is not None and now > before

        wait_until(registered, WATCH_TIMEOUT, f"the server to register {step.label}")

    def _await(self, step: Await) -> Record:
        conn = self.watches.pop(step.name)
        try:
            reply = conn.receive("GET", WATCH_TIMEOUT)
        except TimeoutError:
            return {"step": step.label, "status": "no event within the timeout"}
        finally:
            conn.close()
        return self.record(step.label, reply)

    def _watcher_count(self, step: WatcherCount) -> Record:
        deadline = time.monotonic() + step.timeout
        count = self._watchers()
        while count != step.count and time.monotonic() < deadline:
            time.sleep(0.05)
            count = self._watchers()
        return {"step": step.label, "watchers": count}

    def _poll(self, step: PollUntil) -> Record:
        req = self.fill_request(step.request)
        deadline = time.monotonic() + step.timeout
        reply = self.conn.exchange(req)
        while reply.status != step.status and time.monotonic() < deadline:
            time.sleep(0.05)
            reply = self.conn.exchange(req)
        return self.record(step.label, reply, req)

    def _etcdctl(self, step: Etcdctl) -> Record:
        env = dict(os.environ, ETCDCTL_API="2")
        argv = ["etcdctl", "--endpoints", self.url, *(self.fill(a) for a in step.args)]
        done = subprocess.run(
            argv, input=step.stdin, capture_output=True, text=True, env=env, timeout=30
        )
        return {
            "step": step.label,
            "rc": done.returncode,
            "stdout": relative_text(done.stdout, self.base),
            "stderr": relative_text(done.stderr, self.base),
        }

    def _curl(self, step: Curl) -> Record:
        args = [self.fill(a).replace("{url}", self.url) for a in step.args]
        argv = ["curl", "-sS", "-v", "--max-time", "20", *args]
        done = subprocess.run(argv, input=step.stdin, capture_output=True, timeout=30)
        stderr = done.stderr.decode(errors="replace")
        reply = Reply(200, body=done.stdout)
        return {
            "step": step.label,
            "rc": done.returncode,
            "statuses": CURL_STATUS.findall(stderr),
            "body": normalise_body(decode_body(reply), self.base, datetime.now(UTC), ordered=False),
        }


def run_scenario(url: str, scenario: Scenario) -> list[Record]:
    runner = Runner(url)
    return runner.run(scenario)


def recorded_steps(scenario: Scenario) -> list[Step]:
    """The steps that produce a record, in the order of the records."""
    return [s for s in scenario.steps if not isinstance(s, Watch | Hangup | Repeat)]


def required_records(scenario: Scenario, reference: list[Record]) -> list[Record]:
    """etcd's records, except where a step says what we require instead, and why."""
    out = []
    for step, rec in zip(recorded_steps(scenario), reference, strict=True):
        instead = getattr(step, "instead", None)
        out.append({"step": rec["step"], **instead} if instead else rec)
    return out


def check_expectations(scenario: Scenario, records: list[Record]) -> list[str]:
    """Hand-written expectations of etcd's records that do not hold (empty when all do)."""
    failures: list[str] = []
    for step, rec in zip(recorded_steps(scenario), records, strict=True):
        expect: dict[str, Any] | None = getattr(step, "expect", None)
        for part, want in (expect or {}).items():
            got = _part(rec, part)
            if got != want:
                failures.append(f"{step.label}: {part} is {got!r}, expected {want!r}")
    return failures


def _part(rec: Record, path: str) -> Any:
    value: Any = rec
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value
