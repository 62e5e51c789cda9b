"""etcd v2's `/v2/auth` routes and the per-request access check of the keys API.

`Authorizer.check_keys` is called once per keys request by `Api.keys`: with auth off it
costs one attribute test. Who a request is follows etcd's v2http: an `Authorization`
header is HTTP Basic and must be right (else 401); without one, a verified client
certificate's common name names the user when client-cert auth is on; else the request
is the `guest` role. Refusals are etcd's bodies: error 110 with status 401 on keys,
`{"message": "Insufficient credentials"}` with 401 on auth routes, and the v2auth
`{"message": "auth: ..."}` bodies with their own statuses for refused changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from corral.etcd_errors import EtcdError, RaftInternal, Unauthorized
from corral.store.auth import AuthError, AuthState, Permissions, User, hash_password
from corral.store.auth_store import AuthStore
from corral.store.metrics import AUTH_FAILURES

log = logging.getLogger(__name__)

AUTH_PREFIX = "/v2/auth"
Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]
_JSON: Headers = [("Content-Type", "application/json")]


def _message(status: int, message: str) -> Answer:
    return status, list(_JSON), json.dumps({"message": message}, separators=(",", ":")).encode()


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"  # Go's json.Encoder


NO_AUTH = _message(401, "Insufficient credentials")
KEY_NO_AUTH = Unauthorized("Insufficient credentials", 0)


class Authorizer:
    """The /v2/auth API and the access check every keys request passes."""

    def __init__(self, store: AuthStore, client_cert_auth: bool = False) -> None:
        self.store = store
        self.client_cert_auth = client_cert_auth

    @property
    def enabled(self) -> bool:
        return self.store.state.enabled

    async def _user(self, authorization: str, peer_cn: str) -> tuple[bool, User | None]:
        """(credentials acceptable, user); (True, None) is the guest."""
        if authorization:
            user = await self.store.authenticate(authorization)
            return user is not None, user
        if self.client_cert_auth and peer_cn:
            return True, self.store.user_by_name(peer_cn)
        return True, None

    async def check_keys(
        self, method: str, key: str, recursive: bool, authorization: str, peer_cn: str
    ) -> EtcdError | None:
        """The error refusing this keys request, or None to let it through."""
        state = self.store.state
        if not state.enabled:
            return None
        if self.store.unreadable is not None:  # fail closed, and say why
            return RaftInternal(self.store.unreadable, 0)
        ok, user = await self._user(authorization, peer_cn)
        write = method not in ("GET", "HEAD")
        if ok and state.may(user, key, write, recursive):
            return None
        _count_refusal(ok)
        return KEY_NO_AUTH

    async def _root(self, authorization: str, peer_cn: str) -> bool:
        if not self.store.state.enabled:
            return True
        ok, user = await self._user(authorization, peer_cn)
        if ok and self.store.state.is_root(user):
            return True
        _count_refusal(ok)
        return False

    async def handle(
        self, method: str, path: str, body: bytes, authorization: str, peer_cn: str
    ) -> Answer:
        if self.store.unreadable is not None:
            return _message(500, "auth: " + self.store.unreadable)
        sub = path[len(AUTH_PREFIX) :]
        pieces = [p for p in sub.split("/") if p]
        if sub == "/enable":
            return await self._enable(method, authorization, peer_cn)
        if not pieces or pieces[0] not in ("users", "roles") or sub.startswith("/enable/"):
            return 404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n"
        if len(pieces) > 2:
            return _message(400, "Invalid path")
        allowed = ("GET",) if len(pieces) == 1 else ("GET", "PUT", "DELETE")
        if method not in allowed:
            return 405, [("Allow", ",".join(allowed))], b"Method Not Allowed"
        if not await self._root(authorization, peer_cn):
            return NO_AUTH
        try:
            if pieces[0] == "users":
                return await self._users(method, pieces[1] if len(pieces) > 1 else None, body)
            return await self._roles(method, pieces[1] if len(pieces) > 1 else None, body)
        except AuthError as err:
            return _message(err.status, err.message)

    async def _enable(self, method: str, authorization: str, peer_cn: str) -> Answer:
        if method not in ("GET", "PUT", "DELETE"):
            return 405, [("Allow", "GET,PUT,DELETE")], b"Method Not Allowed"
        if method != "GET" and not await self._root(authorization, peer_cn):
            return NO_AUTH
        try:
            if method == "PUT":
                await self.store.change(AuthState.enable)
                log.info("auth enabled")
            elif method == "DELETE":
                await self.store.change(AuthState.disable)
                log.warning("auth disabled: every client may read and write every key")
            else:
                return 200, list(_JSON), _encode({"enabled": self.store.state.enabled})
        except AuthError as err:
            return _message(err.status, err.message)
        return 200, list(_JSON), b""

    async def _users(self, method: str, name: str | None, body: bytes) -> Answer:
        state = self.store.state
        if name is None:
            users = [state.user(n).view(state, False) for n in sorted(state.users)]
            return 200, list(_JSON), _encode({"users": users})
        if method == "GET":
            return 200, list(_JSON), _encode(state.user(name).view(state, True))
        if method == "DELETE":
            await self.store.change(lambda s: s.delete_user(name))
            return 200, list(_JSON), b""
        data = _object(body)
        if data is None:
            return _message(400, "Invalid JSON in request body.")
        if data.get("user") != name:
            return _message(400, "User JSON name does not match the name in the URL")
        try:
            password = _text(data.get("password"))
            roles, grant, revoke = (_names(data.get(k)) for k in ("roles", "grant", "revoke"))
        except ValueError:
            return _message(400, "Invalid JSON in request body.")
        result: dict[str, Any] = {}
        # hashed in a worker thread, once, before the compare-and-swap loop
        digest = await asyncio.to_thread(hash_password, password) if password else ""

        def put(s: AuthState) -> AuthState:
            new, user, created = s.put_user(
                name, password, roles, grant, revoke, hasher=lambda _: digest
            )
            result.update(user=user, created=created)
            return new

        await self.store.change(put)
        user: User = result["user"]
        status = 201 if result["created"] else 200
        return status, list(_JSON), _encode({"user": user.name, "roles": list(user.roles) or None})

    async def _roles(self, method: str, name: str | None, body: bytes) -> Answer:
        state = self.store.state
        if name is None:
            roles = [state.role(n).to_json() for n in state.role_names()]
            return 200, list(_JSON), _encode({"roles": roles})
        if method == "GET":
            return 200, list(_JSON), _encode(state.role(name).to_json())
        if method == "DELETE":
            await self.store.change(lambda s: s.delete_role(name))
            return 200, list(_JSON), b""
        data = _object(body)
        if data is None:
            return _message(400, "Invalid JSON in request body.")
        if data.get("role") != name:
            return _message(400, "Role JSON name does not match the name in the URL")
        try:
            perms, grant, revoke = (
                Permissions.from_json(data.get(k)) for k in ("permissions", "grant", "revoke")
            )
        except ValueError:
            return _message(400, "Invalid JSON in request body.")
        result: dict[str, Any] = {}

        def put(s: AuthState) -> AuthState:
            new, role, created = s.put_role(name, perms, grant, revoke)
            result.update(role=role, created=created)
            return new

        await self.store.change(put)
        status = 201 if result["created"] else 200
        return status, list(_JSON), _encode(result["role"].to_json())


def _count_refusal(credentials_ok: bool) -> None:
    AUTH_FAILURES.labels("permission" if credentials_ok else "credentials").inc()


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of names")
    return value
