"""The auth state kept durable through the keys backend, and who a request is.

The whole `AuthState` is one JSON value at `AUTH_KEY`, a hidden top-level key: hidden
keys are neither listed nor seen by recursive watches of `/`, and the keys API refuses
every request on it and its events never reach a watcher (`corral.store.private`), so
no client reads the hashes. Because
it goes through `KeysBackend.write`, it is as durable as any key (fsync'd by the
embedded backend, replicated by the etcd backend) and both backends get auth for free.

Invariants:
- A change is read-modify-write with compare-and-swap on the key's index, retried on
  a lost race, so gateways sharing one etcd cluster never overwrite each other.
- Another gateway's change is seen within `FOLLOW_EVERY` seconds (`follow`).
- Fail closed: a stored record that cannot be read (not JSON, the wrong shape, a
  directory) never means "auth off". `unreadable` then names the problem and `state`
  is `LOCKED` (auth on, no user, no role: nothing is allowed) until a readable record
  is stored; the server refuses to start on one, and refuses every request while one
  is in force.
- A password is hashed (scrypt) when set; a successful check is cached under an HMAC
  of the password with a per-process secret, keyed by the stored hash, so a request
  costs one scrypt only the first time and a changed password drops the cache entry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Callable

from corral.etcd_errors import KeyNotFound, NodeExist, TestFailed
from corral.store.auth import AuthError, AuthRecordError, AuthState, User, check_password
from corral.store.backend import KeysBackend
from corral.store.keys_request import KeysRequest
from corral.store.private import AUTH_KEY

log = logging.getLogger(__name__)

MAX_CACHED = 4096
CAS_RETRIES = 10
FOLLOW_EVERY = 1.0
# What an unreadable record is taken for: auth on, nobody known, nothing allowed.
LOCKED = AuthState(enabled=True)


class AuthStore:
    """The auth record kept as a private key of the backend, cached and verified."""

    def __init__(self, backend: KeysBackend) -> None:
        self.backend = backend
        self.state = AuthState()
        self._index = 0  # modifiedIndex of AUTH_KEY (0: never written)
        self.unreadable: str | None = None  # what is wrong with the stored record
        self._secret = os.urandom(32)
        self._verified: dict[tuple[str, bytes], str] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read the stored record (EtcdError if the backend cannot). An unreadable one
        sets `unreadable` and locks the state; a readable one clears it."""
        try:
            e = await self.backend.read(KeysRequest("GET", AUTH_KEY, quorum=True))
        except KeyNotFound:
            self._apply(AuthState(), 0)
            return
        index = int(e.node.get("modifiedIndex", 0))
        try:
            if e.node.get("dir"):
                raise AuthRecordError("a directory, not a value")
            state = AuthState.load(e.node.get("value") or "")
        except AuthRecordError as exc:
            self.unreadable = f"the auth record {AUTH_KEY} (index {index}) is unreadable: {exc}"
            self.state, self._index = LOCKED, index
            return
        self._apply(state, index)

    def _apply(self, state: AuthState, index: int) -> None:
        if self.unreadable is not None:
            log.warning("the auth record is readable again (index %d)", index)
        self.unreadable = None
        self.state, self._index = state, index

    async def change(self, fn: Callable[[AuthState], AuthState]) -> AuthState:
        """Apply `fn` (which may raise AuthError) to the current state and store it."""
        async with self._lock:
            for _ in range(CAS_RETRIES):
                await self.load()
                if self.unreadable is not None:  # never build on a locked state
                    raise AuthError(500, self.unreadable)
                new = fn(self.state)
                req = KeysRequest("PUT", AUTH_KEY, value=new.dump())
                if self._index:
                    req.prev_index = self._index
                else:
                    req.prev_exist = False
                try:
                    e = await self.backend.write(req)
                except (TestFailed, NodeExist):  # another gateway won: redo
                    continue
                self.state, self._index = new, int(e.node.get("modifiedIndex", 0))
                return new
        raise TestFailed("auth record changed concurrently too often")

    async def follow(self, every: float = FOLLOW_EVERY) -> None:
        """Keep `state` current with changes made through other gateways. A re-read
        each `every` seconds, not a watch: a watch would show in the store's watcher
        count and be held open by a backend that stops."""
        while True:
            await asyncio.sleep(every)
            was = self.unreadable
            try:
                await self.load()
            except Exception as err:  # e.g. etcd unreachable: keep the last state, retry
                log.warning("re-reading the auth record: %s", err)
            if self.unreadable is not None and self.unreadable != was:
                log.error("%s: refusing every request until a readable one is stored",
                          self.unreadable)  # fmt: skip

    # -- credentials --------------------------------------------------------------

    async def authenticate(self, authorization: str) -> User | None:
        """The user named by an HTTP Basic header with the right password, else None.
        The hash is checked in a worker thread: it takes a tenth of a second or more,
        which must not stall every other request (nor let bad passwords do so)."""
        name, password = parse_basic(authorization)
        if name is None:
            return None
        user = self.state.users.get(name)
        if user is None:
            return None
        tag = hmac.new(self._secret, password.encode(), hashlib.sha256).digest()
        if self._verified.get((name, tag)) == user.password_hash:
            return self.state.user(name)
        if not await asyncio.to_thread(check_password, user.password_hash, password):
            log.warning("auth: incorrect password for user %s", name)
            return None
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified[(name, tag)] = user.password_hash
        return self.state.user(name)

    def user_by_name(self, name: str) -> User | None:
        """The user a verified client certificate's common name names, if any."""
        return self.state.user(name) if name in self.state.users else None


def parse_basic(header: str) -> tuple[str | None, str]:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    name, sep, password = raw.partition(":")
    return (name, password) if sep else (None, "")
