"""The client side of a mirror: fetch, verify, download. What corral-updated calls.

    client = MirrorClient(HttpFetcher(url), ClientConfig(product, channel, pins, 2),
                          state_file)
    release = client.check(installed=Version("1.2.0"))   # raises a RepositoryError
    path = client.download(release, Path("/var/lib/corral/downloads"))

Trust state (the accepted root and, per channel, the last serial and digest seen) is
kept in `state_file`, written atomically after each verification, so rollback
protection survives restarts. Nothing here decides trust: `corral.trust` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corral.mirror.download import download_payload
from corral.mirror.fetch import Fetcher
from corral.mirror.keyring import Keyring
from corral.mirror.layout import write_atomic
from corral.mirror.progress import Progress
from corral.mirror.roots import DOCUMENT_LIMIT, bootstrap_root, walk_roots
from corral.trust import (
    DEFAULT_SKEW,
    MalformedDocument,
    Release,
    Root,
    Seen,
    Version,
    parse_envelope,
    parse_root,
    verify_release,
)


@dataclass(frozen=True)
class ClientConfig:
    """What a client trusts and follows: product, channel, pinned keys, threshold."""
    product: str
    channel: str
    pinned: tuple[str, ...]  # fingerprints trusted at first contact
    threshold: int
    skew: timedelta = DEFAULT_SKEW

    def __post_init__(self) -> None:
        if not self.pinned or not 1 <= self.threshold <= len(set(self.pinned)):
            raise ValueError(
                f"pin at least one key and a threshold between 1 and {len(set(self.pinned))}"
            )


@dataclass
class TrustState:
    """What a client has accepted so far: the root, and per channel the last release."""
    root: bytes | None = None  # envelope of the accepted root
    seen: dict[str, Seen] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TrustState:
        if not path.exists():
            return cls()
        try:
            body = json.loads(path.read_bytes())
            root = body["root"].encode() if body.get("root") else None
            seen = {c: Seen(int(s["serial"]), str(s["digest"])) for c, s in body["seen"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise MalformedDocument(f"{path}: unreadable trust state; remove it to start"
                                    " again from the pinned keys") from None
        return cls(root, seen)

    def save(self, path: Path) -> None:
        body = {
            "root": self.root.decode() if self.root else None,
            "seen": {c: {"serial": s.serial, "digest": s.digest} for c, s in self.seen.items()},
        }
        write_atomic(path, (json.dumps(body, indent=1) + "\n").encode())


class MirrorClient:
    """Checks a channel and downloads its payload, accepting only what verifies."""

    def __init__(
        self,
        fetcher: Fetcher,
        config: ClientConfig,
        state_file: Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.fetcher = fetcher
        self.config = config
        self.state_file = state_file
        self.clock = clock

    def _trusted_root(self, state: TrustState, keyring: Keyring) -> Root:
        if state.root is None:
            root, data = bootstrap_root(
                self.fetcher, keyring, list(self.config.pinned), self.config.threshold,
                self.config.product,
            )
            state.root = data
        else:
            root = parse_root(parse_envelope(state.root, "trusted root"), "trusted root")
            for armor in root.keys.values():
                keyring.add(armor)
        for newer, data in walk_roots(self.fetcher, keyring, root):
            root, state.root = newer, data
        return root

    def check(self, installed: Version | None = None) -> Release:
        """The channel's current release, verified; raises a specific TrustError."""
        state = TrustState.load(self.state_file)
        channel = self.config.channel
        with Keyring() as keyring:
            root = self._trusted_root(state, keyring)
            data = self.fetcher.document(f"channels/{channel}/release.json", DOCUMENT_LIMIT)
            release = verify_release(
                data,
                verifier=keyring,
                root=root,
                product=self.config.product,
                channel=channel,
                now=self.clock(),
                seen=state.seen.get(channel),
                installed=installed,
                skew=self.config.skew,
            )
        state.seen[channel] = Seen(release.serial, release.digest)
        state.save(self.state_file)
        return release

    def download(
        self, release: Release, directory: Path, progress: Progress | None = None
    ) -> Path:
        """The payload in `directory`, complete and verified; resumes a partial one."""
        name = Path(release.payload.path).name
        target = directory / name
        partial = directory / f".{name}.{release.payload.sha256[:16]}.partial"
        download_payload(self.fetcher, release.payload, partial, progress)
        partial.replace(target)
        return target
