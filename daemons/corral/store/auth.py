"""Users, roles and permissions of etcd v2's auth API, as a pure value (no I/O).

`AuthState` is immutable: every change returns a new state or raises `AuthError`
carrying the HTTP status and message etcd's v2auth answers (`auth: ...`). The rules
are etcd 3.4's (etcdserver/api/v2auth): the `root` role is built in, grants everything
and cannot be changed; the `root` user always holds it and cannot be deleted while auth
is on; enabling auth needs a root user and creates the `guest` role (used by requests
without credentials) with read and write on `/*` unless it exists already. Permission
patterns match a key exactly, or as a prefix when they end in `*`.

Passwords are kept only as scrypt hashes (`scrypt$n$r$p$salt$hash`, base64), never in
clear; comparing uses `hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

ROOT = "root"
GUEST = "guest"
# scrypt cost: about 50 ms per hash here, so guessing is slow; the store caches
# successful checks so a request costs one hash only the first time.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1


class AuthError(Exception):
    """A refused auth operation: an HTTP status and etcd's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = "auth: " + message


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def _match(pattern: str, key: str, recursive: bool) -> bool:
    if not pattern:
        return False
    if pattern.endswith("*"):
        return key.startswith(pattern[:-1])
    return not recursive and key == pattern


@dataclass(frozen=True)
class Permissions:
    """A role's read and write key patterns, as etcd v2 auth keeps them."""

    # None is a list never given (etcd shows null); () one given empty (etcd shows [])
    read: tuple[str, ...] | None = None
    write: tuple[str, ...] | None = None

    def allows(self, key: str, write: bool, recursive: bool) -> bool:
        patterns = (self.write if write else self.read) or ()
        return any(_match(p, key, recursive) for p in patterns)

    def grant(self, other: Permissions) -> Permissions:
        read, write = self.read or (), self.write or ()
        for r in other.read or ():
            if r in read:
                raise AuthError(409, f"Granting duplicate read permission {r}")
        for w in other.write or ():
            if w in write:
                raise AuthError(409, f"Granting duplicate write permission {w}")
        return Permissions(
            tuple(sorted({*read, *(other.read or ())})),
            tuple(sorted({*write, *(other.write or ())})),
        )

    def revoke(self, other: Permissions) -> Permissions:
        # etcd ignores revoking what was never granted
        return Permissions(
            tuple(sorted(set(self.read or ()) - set(other.read or ()))),
            tuple(sorted(set(self.write or ()) - set(other.write or ()))),
        )

    def to_json(self) -> dict[str, Any]:
        def shown(p: tuple[str, ...] | None) -> list[str] | None:
            return None if p is None else list(p)

        return {"kv": {"read": shown(self.read), "write": shown(self.write)}}

    @classmethod
    def from_json(cls, data: Any) -> Permissions:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("permissions must be an object")
        kv = data.get("kv") or {}
        if not isinstance(kv, dict):
            raise ValueError("permissions.kv must be an object")
        return cls(_strings(kv.get("read")), _strings(kv.get("write")))

    @property
    def empty(self) -> bool:
        return not self.read and not self.write


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of non-empty strings")
    return tuple(value)  # kept as given, as etcd stores a new role


ROOT_ROLE_PERMISSIONS = Permissions(("/*",), ("/*",))


@dataclass(frozen=True)
class User:
    """An auth user: name, password hash and granted roles."""

    name: str
    password_hash: str
    roles: tuple[str, ...] = ()

    def view(self, state: AuthState, strict: bool) -> dict[str, Any]:
        """etcd's userWithRoles: the user's roles expanded; never the hash."""
        roles = []
        for name in self.roles:
            role = state.role(name) if strict else state.roles_get(name)
            if role is not None:
                roles.append(role.to_json())
        out: dict[str, Any] = {"user": self.name}
        if roles:
            out["roles"] = roles
        return out


@dataclass(frozen=True)
class Role:
    """An auth role and its permissions."""

    name: str
    permissions: Permissions = Permissions()

    def to_json(self) -> dict[str, Any]:
        return {"role": self.name, "permissions": self.permissions.to_json()}


@dataclass(frozen=True)
class AuthState:
    """The whole auth record (on or off, users, roles), changed only by copy."""

    enabled: bool = False
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    # -- reading ------------------------------------------------------------------

    def user(self, name: str) -> User:
        u = self.users.get(name)
        if u is None:
            raise AuthError(404, f"User {name} does not exist.")
        if name == ROOT and ROOT not in u.roles:
            u = replace(u, roles=(*u.roles, ROOT))
        return u

    def roles_get(self, name: str) -> Role | None:
        if name == ROOT:
            return Role(ROOT, ROOT_ROLE_PERMISSIONS)
        return self.roles.get(name)

    def role(self, name: str) -> Role:
        r = self.roles_get(name)
        if r is None:
            raise AuthError(404, f"Role {name} does not exist.")
        return r

    def role_names(self) -> list[str]:
        return sorted({ROOT, *self.roles})

    def may(self, user: User | None, key: str, write: bool, recursive: bool) -> bool:
        """Whether `user` (None: no credentials, the guest role) may touch `key`."""
        if not self.enabled:
            return True
        if user is None:
            guest = self.roles.get(GUEST)
            # etcd checks the guest role without the recursive rule
            return guest is not None and guest.permissions.allows(key, write, False)
        for name in user.roles:
            role = self.roles_get(name)
            if role is None:
                continue
            if role.name == ROOT or role.permissions.allows(key, write, recursive):
                return True
        return False

    def is_root(self, user: User | None) -> bool:
        return user is not None and ROOT in user.roles

    # -- changing -----------------------------------------------------------------

    def put_user(
        self,
        name: str,
        password: str | None,
        roles: list[str] | None,
        grant: list[str],
        revoke: list[str],
        hasher: Callable[[str], str] = hash_password,
    ) -> tuple[AuthState, User, bool]:
        """etcd's PUT /v2/auth/users/NAME: create, change password, grant or revoke.
        Returns the new state, the user and whether it was created."""
        old = self.users.get(name)
        if not grant and not revoke:
            if roles or old is None:
                return self._create_user(name, password, roles, old is not None, hasher)
        elif roles:
            raise AuthError(400, "User JSON contains both roles and grant/revoke")
        if old is None:
            raise AuthError(404, f"User {name} doesn't exist.")
        current = _changed_roles(name, set(self.user(name).roles), grant, revoke)
        digest = hasher(password) if password else old.password_hash
        new = User(name, digest, tuple(sorted(current)))
        if new.roles == tuple(sorted(set(self.user(name).roles))) and not password:
            raise AuthError(400, "User not updated. Use grant/revoke/password to update the user.")
        return self._with_user(new), new, False

    def _create_user(
        self,
        name: str,
        password: str | None,
        roles: list[str] | None,
        exists: bool,
        hasher: Callable[[str], str],
    ) -> tuple[AuthState, User, bool]:
        if exists:
            raise AuthError(409, f"User {name} already exists.")
        if not password:
            raise AuthError(400, f"Cannot create user {name} with an empty password")
        given = tuple(sorted(set(roles or ())))
        if name == ROOT and ROOT not in given:
            given = (*given, ROOT)
        user = User(name, hasher(password), given)
        # etcd answers 201 only when it was unsure whether this was a create
        return self._with_user(user), user, not roles

    def delete_user(self, name: str) -> AuthState:
        if self.enabled and name == ROOT:
            raise AuthError(403, "Cannot delete root user while auth is enabled.")
        if name not in self.users:
            raise AuthError(404, f"User {name} does not exist")
        users = dict(self.users)
        del users[name]
        return replace(self, users=users)

    def put_role(
        self, name: str, permissions: Permissions, grant: Permissions, revoke: Permissions
    ) -> tuple[AuthState, Role, bool]:
        if name == ROOT:
            raise AuthError(403, f"Cannot modify role {name}: is root role.")
        if grant.empty and revoke.empty:
            if name in self.roles:
                raise AuthError(409, f"Role {name} already exists.")
            role = Role(name, permissions)
            return self._with_role(role), role, True
        if not permissions.empty:
            raise AuthError(400, "Role JSON contains both permissions and grant/revoke")
        old = self.roles.get(name)
        if old is None:
            raise AuthError(404, f"Role {name} doesn't exist.")
        new = Role(name, old.permissions.grant(grant).revoke(revoke))
        if new == old:
            raise AuthError(400, "Role not updated. Use grant/revoke to update the role.")
        return self._with_role(new), new, False

    def delete_role(self, name: str) -> AuthState:
        if name == ROOT:
            raise AuthError(403, f"Cannot modify role {name}: is root role.")
        if name not in self.roles:
            raise AuthError(404, f"Role {name} doesn't exist.")
        roles = dict(self.roles)
        del roles[name]
        return replace(self, roles=roles)

    def enable(self) -> AuthState:
        if self.enabled:
            raise AuthError(409, "already enabled")
        if ROOT not in self.users:
            raise AuthError(409, "No root user available, please create one")
        roles = dict(self.roles)
        roles.setdefault(GUEST, Role(GUEST, Permissions(("/*",), ("/*",))))
        return replace(self, enabled=True, roles=roles)

    def disable(self) -> AuthState:
        if not self.enabled:
            raise AuthError(409, "already disabled")
        return replace(self, enabled=False)

    def _with_user(self, user: User) -> AuthState:
        return replace(self, users={**self.users, user.name: user})

    def _with_role(self, role: Role) -> AuthState:
        return replace(self, roles={**self.roles, role.name: role})

    # -- persistence format -------------------------------------------------------

    def dump(self) -> str:
        return json.dumps(
            {
                "enabled": self.enabled,
                "users": {
                    u.name: {"password": u.password_hash, "roles": list(u.roles)}
                    for u in self.users.values()
                },
                "roles": {r.name: r.permissions.to_json()["kv"] for r in self.roles.values()},
            },
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str) -> AuthState:
        """The state stored as `text`; AuthRecordError names what is wrong with it.
        Every field is checked: a record of the wrong shape must never read as "auth
        off" (nor crash whoever reads it)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AuthRecordError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise AuthRecordError("not a JSON object")
        enabled = data.get("enabled", False)
        if not isinstance(enabled, bool):
            raise AuthRecordError('"enabled" is not true or false')
        users: dict[str, User] = {}
        for name, u in _members(data, "users").items():
            if not isinstance(u, dict) or not isinstance(u.get("password"), str):
                raise AuthRecordError(f"user {name!r} has no password hash")
            roles = u.get("roles") or []
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise AuthRecordError(f"user {name!r}: roles are not a list of names")
            users[name] = User(name, u["password"], tuple(roles))
        roles_by_name: dict[str, Role] = {}
        for name, kv in _members(data, "roles").items():
            try:
                roles_by_name[name] = Role(name, Permissions.from_json({"kv": kv}))
            except ValueError as exc:
                raise AuthRecordError(f"role {name!r}: {exc}") from None
        return cls(enabled, users, roles_by_name)


class AuthRecordError(ValueError):
    """A stored auth record that cannot be read as an `AuthState`."""


def _members(data: dict[str, Any], field_name: str) -> dict[str, Any]:
    value = data.get(field_name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthRecordError(f'"{field_name}" is not an object')
    return value


def _changed_roles(name: str, current: set[str], grant: list[str], revoke: list[str]) -> set[str]:
    """`current` with `grant` added and `revoke` taken away, refused as etcd refuses a
    duplicate grant or an ungranted revoke."""
    for g in grant:
        if g in current:
            raise AuthError(409, f"Granting duplicate role {g} for user {name}")
        current.add(g)
    for r in revoke:
        if r not in current:
            raise AuthError(409, f"Revoking ungranted role {r} for user {name}")
        current.discard(r)
    return current
