"""The reboot lock in the store: a Semaphore at `/_corral/update/lock` (or
`lock-groups/<group>`), changed only by compare-and-swap on its modifiedIndex.

A holder expires when its machine's heartbeat key (`alive/<id>`, with a TTL) is gone:
the next machine that finds the semaphore full drops such holders first. So a machine
that dies while holding the lock frees it after one TTL, while one that is rebooting
keeps it as long as it comes back within its TTL.
"""

from __future__ import annotations

from collections.abc import Callable

from corral.client import KEY_NOT_FOUND, NODE_EXIST, TEST_FAILED, Client, EtcdError
from corral.updated.records import ALIVE, LOCK, LOCK_GROUPS
from corral.updated.semaphore import Semaphore

_RETRIES = 50


def lock_key(group: str | None) -> str:
    return f"{LOCK_GROUPS}/{group}" if group else LOCK


class LockContended(Exception):
    """The semaphore kept changing under us; try again later."""


class RebootLock:
    def __init__(self, client: Client, group: str | None = None, default_max: int = 1) -> None:
        self.client = client
        self.key = lock_key(group)
        self.default_max = default_max

    def read(self) -> tuple[Semaphore, int | None]:
        """The semaphore and its index (None: absent, shown with the default max)."""
        try:
            node = self.client.get(self.key).node
        except EtcdError as exc:
            if exc.error_code != KEY_NOT_FOUND:
                raise
            return Semaphore(self.default_max, self.default_max, []), None
        return Semaphore.parse(node.value), node.modified_index

    def _change(self, change: Callable[[Semaphore], object]) -> tuple[Semaphore, object]:
        for _ in range(_RETRIES):
            sem, index = self.read()
            outcome = change(sem)
            try:
                if index is None:
                    self.client.set(self.key, sem.dump(), prev_exist=False)
                else:
                    self.client.set(self.key, sem.dump(), prev_index=index)
                return sem, outcome
            except EtcdError as exc:
                if exc.error_code not in (TEST_FAILED, NODE_EXIST, KEY_NOT_FOUND):
                    raise
        raise LockContended(f"{self.key} kept changing; try again")

    def alive(self) -> set[str]:
        """Machines whose heartbeat key has not expired."""
        return _alive(self.client)

    def expired_holders(self, sem: Semaphore) -> set[str]:
        alive = self.alive()
        return {h for h in sem.holders if h not in alive}

    def acquire(self, holder: str) -> bool:
        def change(sem: Semaphore) -> bool:
            if holder not in sem.holders and sem.semaphore <= 0:
                sem.drop(self.expired_holders(sem))
            return sem.acquire(holder)

        return bool(self._change(change)[1])

    def release(self, holder: str) -> bool:
        return bool(self._change(lambda sem: sem.release(holder))[1])

    def set_max(self, new_max: int) -> Semaphore:
        return self._change(lambda sem: sem.set_max(new_max))[0]


def _alive(client: Client) -> set[str]:
    try:
        node = client.get(ALIVE).node
    except EtcdError as exc:
        if exc.error_code == KEY_NOT_FOUND:
            return set()
        raise
    return {n.name for n in node.nodes}
