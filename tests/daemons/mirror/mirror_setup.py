"""Test helpers: an upstream mirror made with the real CLI, and a client for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corral.mirror.cli import main
from corral.mirror.client import ClientConfig, MirrorClient
from corral.mirror.fetch import Fetcher

PRODUCT = "corral-os"


@dataclass
class Upstream:
    dir: Path
    gnupghome: Path
    signers: tuple[str, ...]

    def cli(self, *args: str) -> int:
        return main(["--gnupghome", str(self.gnupghome), *args])

    def publish(self, payload: Path, version: str, channel: str = "stable") -> None:
        rc = self.cli("publish", str(self.dir), str(payload), "--channel", channel,
                      "--version", version, *[a for k in self.signers for a in ("--key", k)])
        assert rc == 0


def make_payload(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def make_upstream(tmp: Path, keys, payload_size: int = 2 << 20) -> Upstream:
    up = Upstream(tmp / "upstream", keys.home, (keys.alice, keys.bob))
    assert up.cli("init", str(up.dir), "--key", keys.alice, "--key", keys.bob,
                  "--threshold", "2", "--product", PRODUCT) == 0
    up.publish(make_payload(tmp / "os-1.0.0.img", payload_size), "1.0.0")
    return up


def client_for(fetcher: Fetcher, keys, state: Path, channel: str = "stable") -> MirrorClient:
    config = ClientConfig(PRODUCT, channel, (keys.alice, keys.bob), 2)
    return MirrorClient(fetcher, config, state)
