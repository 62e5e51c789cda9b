"""Differential runs: the same command through etcdctl (v2) and through corralctl kv.

A `Pair` holds two fresh servers of one kind. etcdctl talks to `reference`, corralctl
to `subject`; both receive the same sequence of commands, so both stores hold the same
data. Outputs are compared after normalising what may legitimately differ between two
servers: indexes are renumbered in order of first appearance on each side (so equal
indexes stay equal and an offset between the servers does not matter), in-order key
names likewise, remaining TTLs and expiry times are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from corral.client import Client
from corral.testing import wait_until

CORRALCTL = [sys.executable, "-m", "corral.ctl.main"]
ETCDCTL = ["etcdctl"]
COMMAND_TIMEOUT = 20.0

_INDEX_FIELDS = re.compile(
    r'(?P<pre>"(?:createdIndex|modifiedIndex|index)":|(?:Created-Index|Modified-Index|Index): '
    r"|ETCD_WATCH_MODIFIED_INDEX=)(?P<n>\d+)"
)
_ERROR_INDEX = re.compile(r"\[(\d+)\]$", re.M)
_INORDER_KEY = re.compile(r"/(\d{20})\b")
_COMPARED_INDEXES = re.compile(r"\[(\d+) != (\d+)\]")
_CLEARED_INDEXES = re.compile(r"\[(\d+)/(\d+)\]")
_TTL = re.compile(r'(?P<pre>"ttl":|TTL: )(?P<n>[1-9]\d*)')
_EXPIRATION = re.compile(r'"expiration":"[^"]*"')


@dataclass
class Outcome:
    stdout: str
    stderr: str
    code: int


@dataclass
class Each:
    """An argument that differs per side (an index read from each server)."""

    reference: str
    subject: str


@dataclass
class Normaliser:
    """Renumbers indexes of one side in order of first appearance."""

    numbers: dict[int, int] = field(default_factory=dict)

    def _number(self, n: int) -> int:
        if n == 0:
            return 0
        return self.numbers.setdefault(n, len(self.numbers) + 1)

    def __call__(self, text: str) -> str:
        text = _INDEX_FIELDS.sub(lambda m: f"{m['pre']}<i{self._number(int(m['n']))}>", text)
        text = _COMPARED_INDEXES.sub(
            lambda m: f"[<i{self._number(int(m[1]))}> != <i{self._number(int(m[2]))}>]", text
        )
        text = _CLEARED_INDEXES.sub(
            lambda m: f"[<i{self._number(int(m[1]))}>/<i{self._number(int(m[2]))}>]", text
        )
        text = _ERROR_INDEX.sub(lambda m: f"[<i{self._number(int(m[1]))}>]", text)
        text = _INORDER_KEY.sub(lambda m: f"/<i{self._number(int(m[1]))}>", text)
        text = _TTL.sub(lambda m: f"{m['pre']}<ttl>", text)
        return _EXPIRATION.sub('"expiration":"<time>"', text)


class Pair:
    def __init__(self, reference_url: str, subject_url: str, work: Path) -> None:
        self.reference_url = reference_url
        self.subject_url = subject_url
        self.work = work
        self.norm_reference = Normaliser()
        self.norm_subject = Normaliser()
        own = ("ETCDCTL_", "CORRAL_")  # neither tool may pick up the caller's settings
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        self.env["ETCDCTL_API"] = "2"

    # -- running commands ----------------------------------------------------------

    def etcdctl_argv(self, args: list[str | Each]) -> list[str]:
        plain = [a.reference if isinstance(a, Each) else a for a in args]
        return [*ETCDCTL, "--endpoints", self.reference_url, *plain]

    def corralctl_argv(self, args: list[str | Each]) -> list[str]:
        plain = [a.subject if isinstance(a, Each) else a for a in args]
        return [*CORRALCTL, "--endpoint", self.subject_url, "kv", *plain]

    def run(
        self, *args: str | Each, stdin: bytes = b"", env: dict[str, str] | None = None
    ) -> tuple[Outcome, Outcome]:
        """Both tools at once, each against its own server; raw outcomes."""
        env = env or self.env
        procs = [
            subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for argv in (self.etcdctl_argv(list(args)), self.corralctl_argv(list(args)))
        ]
        outcomes = []
        for proc in procs:
            try:
                out, err = proc.communicate(stdin, timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()
                raise
            outcomes.append(Outcome(out.decode(), err.decode(), proc.returncode))
        return outcomes[0], outcomes[1]

    def check(self, *args: str | Each, stdin: bytes = b"") -> Outcome:
        """Run both; assert same stdout, stderr and exit status after normalising."""
        ref, ours = self.run(*args, stdin=stdin)
        self.assert_same(ref, ours, f"kv {' '.join(map(str, args))}")
        return ours

    def assert_same(self, ref: Outcome, ours: Outcome, what: str) -> None:
        norm_ref, norm_ours = self.norm_reference, self.norm_subject
        expected = Outcome(norm_ref(ref.stdout), norm_ref(ref.stderr), ref.code)
        got = Outcome(norm_ours(ours.stdout), norm_ours(ours.stderr), ours.code)
        assert got == expected, what

    # -- reading the servers directly ------------------------------------------------

    def modified_index(self, key: str) -> Each:
        indexes = []
        for url in (self.reference_url, self.subject_url):
            with Client(url) as client:
                indexes.append(str(client.get(key).node.modified_index))
        return Each(*indexes)

    def write_many(self, key: str, count: int) -> None:
        """`count` writes of `key` on both servers, straight through the client."""

        def write(url: str) -> None:
            with Client(url) as client:
                for i in range(count):
                    client.set(key, str(i))

        threads = [
            threading.Thread(target=write, args=(url,))
            for url in (self.reference_url, self.subject_url)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def mark(self, key: str) -> Each:
        """Write `key` through both tools; the index of that write on each server
        (a starting point for --after-index that is never 0, which means "now")."""
        self.check("set", key, "mark")
        return self.modified_index(key)

    def wait_for_watchers(self, reference: int, subject: int) -> None:
        """Until the servers hold these many waiting watchers (the watches are in place)."""
        for url, count in ((self.reference_url, reference), (self.subject_url, subject)):
            wait_until(lambda u=url, c=count: _watchers(u) >= c, 10.0, f"{count} watchers on {url}")


def _watchers(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v2/stats/store", timeout=5) as resp:
        return int(json.load(resp).get("watchers", 0))


class Background:
    """A long-running command (watch, exec-watch) with its output in files."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        work: Path,
        name: str,
        *,
        ignore_sigint: bool = False,
    ) -> None:
        """`ignore_sigint` starts it as a non-interactive shell starts a background job."""
        self.out_path = work / f"{name}.out"
        self.err_path = work / f"{name}.err"
        if ignore_sigint:  # the shell's way: an ignored signal stays ignored across exec
            argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )

    def lines(self, stream: str = "out") -> list[str]:
        path = self.out_path if stream == "out" else self.err_path
        return path.read_text().splitlines()

    def wait_for_lines(self, count: int, stream: str = "out") -> None:
        """Until the output holds `count` lines; fails early if the process ended."""

        def enough() -> bool:
            if len(self.lines(stream)) >= count:
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.lines('err')}")
            return False

        wait_until(enough, 10.0, f"{count} lines of {self.out_path}")

    def wait(self) -> Outcome:
        try:
            code = self.proc.wait(COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        return Outcome(self.out_path.read_text(), self.err_path.read_text(), code)

    def interrupt(self) -> Outcome:
        """Ctrl-C, as a user at a terminal would."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_both(pair: Pair, *args: str | Each, name: str) -> tuple[Background, Background]:
    return (
        Background(pair.etcdctl_argv(list(args)), pair.env, pair.work, f"{name}.etcdctl"),
        Background(pair.corralctl_argv(list(args)), pair.env, pair.work, f"{name}.corralctl"),
    )
