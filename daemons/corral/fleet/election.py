"""Engine election through the TTL key `/_corral/engine/leader`.

Whoever creates the key (prevExist=false) is the engine until the key expires; the
holder refreshes it at a third of its TTL, conditionally on still holding it. Any
agent can take over once the key has expired. A holder that fails to renew stops
acting at once; the engine's writes are also compare-and-swap, so a holder that was
paused past its TTL cannot undo what its successor wrote.

A leader key without a TTL, or a directory there, was written by no engine and would
block every election forever: a campaign that finds one deletes it (a plain key only
if unchanged since read) and campaigns again at its next turn.
"""

from __future__ import annotations

import contextlib
import logging
import time

from corral.client import KEY_NOT_FOUND, NODE_EXIST, TEST_FAILED, Client, EtcdError
from corral.fleet.records import LEADER

log = logging.getLogger(__name__)


class Leadership:
    """This machine's campaign for the engine's leader key, and whether it holds it."""

    def __init__(self, client: Client, machine_id: str, ttl: int) -> None:
        self.client = client
        self.machine_id = machine_id
        self.ttl = ttl
        self._held_until = 0.0

    @property
    def held(self) -> bool:
        """True while the last successful acquire/renew is younger than the TTL."""
        return time.monotonic() < self._held_until

    def campaign(self) -> bool:
        """Take the key if free, renew it if ours. Returns whether we hold it."""
        started = time.monotonic()
        try:
            if self.held:
                self.client.set(LEADER, self.machine_id, ttl=self.ttl, prev_value=self.machine_id)
            else:
                self.client.create(LEADER, self.machine_id, ttl=self.ttl)
        except EtcdError as exc:
            if exc.error_code not in (KEY_NOT_FOUND, TEST_FAILED, NODE_EXIST):
                raise
            if exc.error_code == NODE_EXIST:
                self._clear_foreign_key()
            self._held_until = 0.0
            return False
        self._held_until = started + self.ttl
        return True

    def _clear_foreign_key(self) -> None:
        try:
            node = self.client.get(LEADER).node
            if node.dir:
                log.warning("election: %s is a directory; deleting it", LEADER)
                self.client.delete(LEADER, recursive=True)
            elif node.ttl is None:
                log.warning("election: %s has no TTL (%.80r); deleting it", LEADER, node.value)
                self.client.delete(LEADER, prev_index=node.modified_index)
        except EtcdError:
            return  # changed meanwhile: the next campaign looks again

    def resign(self) -> None:
        if self.held:
            with contextlib.suppress(EtcdError):
                self.client.delete(LEADER, prev_value=self.machine_id)
        self._held_until = 0.0
