"""What the load generator is asked to do: one JSON object, checked before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit


class JobError(ValueError):
    """The job description is unusable."""


@dataclass
class Job:
    """`mode` "load": `connections` workers, each one request in flight, for `seconds`
    after `warmup` or for `count` requests in all; each request is a PUT with chance
    `put_fraction` (else a GET) of a random key among `keys` named `key_prefix`N, or with
    `sequential` PUTs of key_prefix0, key_prefix1, ... once each. `mode` "fanout": see
    bench.fanout. `timeout` bounds what is still in flight when the job should end. `samples` adds
    every latency (µs) to the result, so runs can be pooled exactly. `retries` resends a
    request that got a 5xx or a broken connection (for loading data, never measuring)."""

    url: str
    mode: str = "load"
    connections: int = 32
    seconds: float | None = None
    count: int | None = None
    warmup: float = 0.5
    put_fraction: float = 1.0
    keys: int = 1000
    key_prefix: str = "/bench/k"
    sequential: bool = False
    value_size: int = 256
    watchers: int = 100
    rounds: int = 20
    timeout: float = 30.0
    seed: int = 1
    samples: bool = False
    retries: int = 0

    @classmethod
    def parse(cls, text: str) -> Job:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JobError(f"job is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise JobError("job must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise JobError(f"unknown job fields: {', '.join(sorted(unknown))}")
        try:
            job = cls(**data)
        except TypeError as exc:
            raise JobError(str(exc)) from exc
        job.check()
        return job

    def check(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise JobError(f"url must be http://HOST:PORT, got {self.url!r}")
        if self.mode not in ("load", "fanout"):
            raise JobError(f"mode must be load or fanout, got {self.mode!r}")
        if self.connections < 1 or self.watchers < 1 or self.rounds < 1 or self.keys < 1:
            raise JobError("connections, watchers, rounds and keys must be >= 1")
        if self.mode == "load" and (self.seconds is None) == (self.count is None):
            raise JobError("a load job needs exactly one of seconds and count")
        if not 0.0 <= self.put_fraction <= 1.0:
            raise JobError("put_fraction must be within 0..1")

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc
