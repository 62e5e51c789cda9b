"""The reboot lock in the store: one key per holder, and the size in an operator's key.

A lock is named `lock` (the cluster's) or `lock-groups/<group>`. Machine <id> holds a
place in it with the key `reboot-lock/holders/<id>/<name>`, which only its own updater
(and operators) may write; how many may hold it is `reboot-lock/max/<name>`, which only
operators write. So a machine's credential can take or give back its own place, and
nothing else: not another's place, not the size.

Taking a place: create the holder key (prevExist=false; one already there is ours from
before), then read every holder (a quorum read) and count the live ones whose keys were
created before ours (createdIndex is the store's total order). Fewer than max: the place
is ours. Otherwise delete our key again and report the lock full.

Invariant: never more than max live holders believe they hold the lock. Suppose more
did; take the one whose key was created last. Every other believer's key was created
before it, and was still there when it read (a holder deletes its key only when it
gives its place back or finds the lock full, and then it no longer believes), so it
counted at least max live holders ahead of itself and gave up: a contradiction. The
two exceptions are deliberate: an operator's `max` lowered under existing holders
keeps them (as locksmith does), and a holder whose heartbeat (`alive/<id>`, with a TTL)
expired is not counted, so a machine that dies while holding frees the lock after one
TTL, while one that is rebooting keeps it as long as it comes back within its TTL.

The earlier layout's locksmith document at `lock` (or `lock-groups/<group>`) is still
read: its `max` applies while no max key is set, and its live holders count ahead of
every holder key, so a machine that took the lock before an upgrade keeps the others
out. Giving a place back removes it from that document too, when the caller may write
it (operators; updaters of the earlier role layout).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from corral.client import Client, EtcdError
from corral.etcd_errors import KeyNotFound, NodeExist, TestFailed, Unauthorized
from corral.updated.records import ALIVE, LOCK, LOCK_GROUPS, LOCK_HOLDERS, LOCK_MAX, ROOT
from corral.updated.semaphore import Semaphore, SemaphoreError

_RETRIES = 50


def lock_key(group: str | None) -> str:
    """The earlier layout's document for this lock."""
    return f"{LOCK_GROUPS}/{group}" if group else LOCK


def lock_name(group: str | None) -> str:
    return lock_key(group)[len(ROOT) + 1 :]


class LockContended(Exception):
    """The semaphore kept changing under us; try again later."""


@dataclass(frozen=True)
class Holder:
    """One place taken in a reboot lock, ordered by when its key was created."""
    holder: str
    order: int  # createdIndex of its key; 0 for the earlier layout's holders, first


def admitted(max_: int, holders: list[Holder], alive: set[str]) -> list[str]:
    """The holders that hold the lock (pure): in order, each live holder with fewer than
    `max_` live holders ahead of it."""
    out: list[str] = []
    live = 0
    for h in sorted(holders, key=lambda h: h.order):
        if h.holder not in alive:
            continue
        if live < max_:
            out.append(h.holder)
        live += 1
    return out


class RebootLock:
    """One reboot lock in the store, taken and given back by this machine."""

    def __init__(self, client: Client, group: str | None = None, default_max: int = 1) -> None:
        self.client = client
        self.name = lock_name(group)
        self.legacy_key = lock_key(group)
        self.key = f"{LOCK_MAX}/{self.name}"  # what an operator changes: its size
        self.default_max = default_max

    def holder_key(self, holder: str) -> str:
        return f"{LOCK_HOLDERS}/{holder}/{self.name}"

    def _legacy(self) -> tuple[Semaphore | None, int]:
        try:
            node = self.client.get(self.legacy_key, quorum=True).node
        except KeyNotFound:
            return None, 0
        return Semaphore.parse(node.value), node.modified_index

    def max(self) -> int:
        try:
            text = self.client.get(self.key, quorum=True).node.value or ""
        except KeyNotFound:
            legacy = self._legacy()[0]
            return self.default_max if legacy is None else legacy.max
        try:
            value = int(text)
        except ValueError:
            raise SemaphoreError(f"{self.key}: not a number: {text!r:.100}") from None
        if value < 0:
            raise SemaphoreError(f"{self.key}: {value} is below 0")
        return value

    def holders(self) -> list[Holder]:
        """Every holder, in the order places were taken (the earlier layout's first)."""
        legacy = self._legacy()[0]
        out = [Holder(h, 0) for h in (legacy.holders if legacy else [])]
        try:
            root = self.client.get(LOCK_HOLDERS, recursive=True, quorum=True).node
        except KeyNotFound:
            return out
        seen = {h.holder for h in out}
        for n in root.walk():
            if n.dir or not n.key.startswith(LOCK_HOLDERS + "/"):
                continue
            holder, _, name = n.key[len(LOCK_HOLDERS) + 1 :].partition("/")
            if name == self.name and holder not in seen:
                out.append(Holder(holder, n.created_index))
        return sorted(out, key=lambda h: h.order)

    def read(self) -> Semaphore:
        """The lock as locksmith shows it: max, places left, and the holders in order:
        those that hold a place, and expired ones until their keys are gone (takers do
        not count those), but not takers about to give up for want of a place."""
        max_, holders, alive = self.max(), self.holders(), self.alive()
        admitted_ = set(admitted(max_, holders, alive))
        shown = [h.holder for h in holders if h.holder in admitted_ or h.holder not in alive]
        return Semaphore(max_ - len(shown), max_, shown)

    def alive(self) -> set[str]:
        """Machines whose heartbeat key has not expired."""
        return _alive(self.client)

    def expired_holders(self, sem: Semaphore) -> set[str]:
        alive = self.alive()
        return {h for h in sem.holders if h not in alive}

    def acquire(self, holder: str) -> bool:
        """Take a place for `holder` (kept if it has one); False when the lock is full."""
        key = self.holder_key(holder)
        with contextlib.suppress(NodeExist):
            self.client.set(key, "held", prev_exist=False)
        holders = self.holders()
        alive = self.alive() | {holder}  # a taker is alive, heartbeat or not
        self._forget(h for h in holders if h.holder not in alive)
        mine = next((h for h in holders if h.holder == holder), None)
        if mine is not None and holder in admitted(self.max(), holders, alive):
            return True
        if mine is not None and mine.order:
            with contextlib.suppress(KeyNotFound, TestFailed):
                self.client.delete(key, prev_index=mine.order)
        return False

    def _forget(self, expired: Iterable[Holder]) -> None:
        """Delete expired holders' keys where the caller may (operators, or a store
        without auth): housekeeping only, as takers do not count them anyway."""
        for h in expired:
            if h.order:
                with contextlib.suppress(EtcdError):
                    self.client.delete(self.holder_key(h.holder), prev_index=h.order)

    def release(self, holder: str) -> bool:
        """Give `holder`'s place back; False when it held none."""
        released = False
        try:
            self.client.delete(self.holder_key(holder))
            released = True
        except KeyNotFound:
            pass
        return self._release_legacy(holder) or released

    def _release_legacy(self, holder: str) -> bool:
        for _ in range(_RETRIES):
            sem, index = self._legacy()
            if sem is None or not sem.release(holder):
                return False
            try:
                self.client.set(self.legacy_key, sem.dump(), prev_index=index)
                return True
            except Unauthorized:
                raise SemaphoreError(
                    f"{holder} still holds {self.legacy_key} of the earlier layout, which"
                    f" only an operator may change now: `corralctl lock unlock --id"
                    f" {holder}`") from None  # fmt: skip
            except (TestFailed, KeyNotFound):
                pass
        raise LockContended(f"{self.legacy_key} kept changing; try again")

    def set_max(self, new_max: int) -> Semaphore:
        if new_max < 0:
            raise SemaphoreError(f"max must be 0 or more, not {new_max}")
        self.client.set(self.key, str(new_max))
        return self.read()


def _alive(client: Client) -> set[str]:
    try:
        node = client.get(ALIVE).node
    except KeyNotFound:
        return set()
    return {n.name for n in node.nodes}
