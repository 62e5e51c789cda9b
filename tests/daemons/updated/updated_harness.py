"""Test helpers for corral-updated: a signed mirror served over HTTP by `corral-mirror
serve`, and updaters run in-process (injected clock) on directory slots."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corral.client import Client
from corral.ctl.main import main as corralctl
from corral.etcd_errors import KeyNotFound
from corral.mirror.cli import main as mirror_main
from corral.mirror.client import ClientConfig, MirrorClient
from corral.mirror.fetch import HttpFetcher
from corral.mirror.pace import DEFAULT_PACE, Pace
from corral.testing import ManagedProcess, wait_until
from corral.updated import records as r
from corral.updated.engine import Updater, UpdaterConfig
from corral.updated.firmware import boot
from corral.updated.slot_directory import DirectorySlots

PRODUCT = "corral-os"
SERVING = re.compile(r"serving mirror \S+ on (http://\S+)")


@dataclass(frozen=True)
class Signers:
    home: Path
    alice: str
    bob: str

    @property
    def pins(self) -> tuple[str, str]:
        return (self.alice, self.bob)


def make_key(home: Path, name: str) -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@corral.test>",
         "ed25519", "sign", "never"],
        env=env, check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys", f"<{name}@corral.test>"],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


class UpstreamMirror:
    """A mirror directory (threshold 2 of alice and bob), served over HTTP on demand."""

    def __init__(self, directory: Path, signers: Signers) -> None:
        self.dir = directory
        self.signers = signers
        self.server: ManagedProcess | None = None
        self.url = ""

    def cli(self, *args: str) -> None:
        assert mirror_main(["--gnupghome", str(self.signers.home), *args]) == 0

    def init(self) -> UpstreamMirror:
        self.cli("init", str(self.dir), "--key", self.signers.alice, "--key", self.signers.bob,
                 "--threshold", "2", "--product", PRODUCT)  # fmt: skip
        return self

    def publish(self, version: str, content: bytes, channel: str = "stable") -> Path:
        payload = self.dir.parent / f"os-{version}-{channel}.img"
        payload.write_bytes(content)
        self.cli("publish", str(self.dir), str(payload), "--channel", channel, "--version",
                 version, "--key", self.signers.alice, "--key", self.signers.bob)  # fmt: skip
        return payload

    def serve(self) -> str:
        argv = [sys.executable, "-m", "corral.mirror.cli", "serve", str(self.dir),
                "--listen", "127.0.0.1:0"]  # fmt: skip
        self.server = ManagedProcess(argv, self.dir.parent / "mirror-serve.log")
        self.server.spawn()

        def ready() -> bool:
            assert self.server is not None
            if not self.server.alive():
                raise RuntimeError(f"corral-mirror serve died:\n{self.server.log_tail()}")
            match = SERVING.search(self.server.log_text())
            self.url = match.group(1) if match else ""
            return bool(match)

        wait_until(ready, 20, "corral-mirror serve")
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def pool_file(self, version: str) -> Path:
        name = f"os-{version}-stable.img"
        return next(self.dir.glob(f"pool/*/{name}"))


@dataclass
class Clock:
    """The updater's wall clock, moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


class Settled(Updater):
    """An updater whose `step()` first waits until its watched copy of the settings and
    requests holds what the store holds: a test writes and steps at once, where the
    daemon's watch takes milliseconds and its tick a second."""

    def step(self) -> None:
        self.control.start()
        wait_until(self._settled, 5, "the updater's watches caught up with the store", 0.005)
        super().step()

    def _settled(self) -> bool:
        return all(self.control.copy(root) == stored(self.client, root)
                   for root in (self.control.settings, self.control.requests))  # fmt: skip


def stored(client: Client, root: str) -> dict[str, str]:
    """Every value under `root`, as a watched copy holds them."""
    try:
        node = client.get(root, recursive=True).node
    except KeyNotFound:
        return {}
    return {n.key: n.value or "" for n in node.walk() if not n.dir}


class WholeSteps(Settled):
    """An updater whose `step()` finishes a download it starts (it waits for the
    download thread and steps on), so a test's one step is one whole pass of work."""

    def step(self) -> None:
        super().step()
        while self.job is not None:
            self.job.wait(30)
            super().step()


class Machine:
    """One host's corral-updated, in-process, on directory slots. Its reboot command
    only appends to a file; `boot()` then plays the boot loader and starts a fresh
    updater on the same state, as a reboot would. With `whole_steps` (the default) a
    step waits for the download it starts (`WholeSteps`); a step waits for the
    updater's watches to catch up with the store (`Settled`) unless `settle` is off
    (the daemon as it runs, with `whole_steps` off)."""

    def __init__(self, base: Path, machine_id: str, endpoint: str, mirror_url: str,
                 signers: Signers, clock: Clock | None = None, whole_steps: bool = True,
                 pace: Pace = DEFAULT_PACE, settle: bool = True, **config: object) -> None:
        self.base = base / machine_id
        self.machine_id = machine_id
        self.endpoint = endpoint
        self.mirror_url = mirror_url
        self.signers = signers
        self.clock = clock or Clock()
        self.reboots_file = self.base / "reboots"
        self.config = config
        self.whole_steps = whole_steps
        self.settle = settle
        self.pace = pace
        self.client = Client(endpoint, timeout=5)
        self.slots = DirectorySlots(self.base / "slots", initial_version="1.0.0")
        self.slots.load()
        self.updater = self._updater()
        _CREATED.append(self)

    def _updater(self) -> Updater:
        config = UpdaterConfig(
            machine_id=self.machine_id, state_dir=self.base / "state",
            reboot_command=f"echo reboot >> {self.reboots_file}", tick=0.05, drain=False,
            **self.config,  # type: ignore[arg-type]
        )  # fmt: skip
        mirror = MirrorClient(HttpFetcher(self.mirror_url, pace=self.pace),
                              ClientConfig(PRODUCT, "stable", self.signers.pins, 2),
                              self.base / "state" / "trust.json", clock=self.clock)  # fmt: skip
        kind = WholeSteps if self.whole_steps else Settled if self.settle else Updater
        return kind(config, self.client, self.slots, mirror,
                    connect=lambda: Client(self.endpoint, timeout=5), clock=self.clock)

    def reboots(self) -> int:
        return len(self.reboots_file.read_text().splitlines()) if self.reboots_file.exists() else 0

    def boot(self) -> str:
        """The boot loader picks a slot; the daemon starts again and runs after_boot."""
        booted = boot(self.slots.base)
        self.updater.close()
        self.updater = self._updater()
        self.updater.after_boot()
        return booted

    def close(self) -> None:
        self.updater.close()
        self.client.close()


def ctl(endpoint: str, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = corralctl(["--endpoint", endpoint, *args])
    return rc, out.getvalue() + err.getvalue()


def status(endpoint: str, machine_id: str) -> r.MachineStatus:
    with Client(endpoint) as c:
        return r.decode(r.MachineStatus, c.get(f"{r.MACHINES}/{machine_id}").node.value)


def history(endpoint: str, machine_id: str) -> list[str]:
    with Client(endpoint) as c:
        nodes = c.get(f"{r.HISTORY}/{machine_id}", sorted=True).node.nodes
    return [r.decode(r.HistoryEntry, n.value).event for n in nodes]


_CREATED: list[Machine] = []  # closed after each test (`machines_closed`)


@pytest.fixture(autouse=True)
def machines_closed() -> Iterator[None]:
    """Every Machine a test made stops watching the store when the test ends (a test
    need not close them; their watches would retry against a stopped store)."""
    yield
    while _CREATED:
        _CREATED.pop().close()


@pytest.fixture(scope="session")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signers]:
    """Throwaway gpg keys (ed25519), made once per session."""
    home = tmp_path_factory.mktemp("updated-gnupg")
    home.chmod(0o700)
    yield Signers(home, make_key(home, "alice"), make_key(home, "bob"))
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture
def upstream(tmp_path: Path, signers: Signers) -> Iterator[UpstreamMirror]:
    """A signed mirror made with the real corral-mirror CLI, offering 1.0.0."""
    mirror = UpstreamMirror(tmp_path / "mirror", signers).init()
    mirror.publish("1.0.0", b"system 1.0.0\n")
    try:
        yield mirror
    finally:
        mirror.stop()
