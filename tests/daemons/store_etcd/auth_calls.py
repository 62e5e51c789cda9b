"""HTTP calls as root or as a given user, and auth switched on with a closed guest."""

from __future__ import annotations

from typing import Any

from corral.testing import http_call

ROOT_PASSWORD = "root-secret"
Answer = tuple[int, Any]


def call(url: str, method: str, path: str, body: Any = None, root: bool = False,
         form: str | None = None, user: tuple[str, str] | None = None) -> Answer:  # fmt: skip
    return http_call(url, method, path, body, form, ("root", ROOT_PASSWORD) if root else user)


def enable_auth(url: str) -> None:
    """Auth on, with a root user and a guest that may do nothing."""
    assert call(url, "PUT", "/v2/auth/users/root",
                {"user": "root", "password": ROOT_PASSWORD})[0] in (200, 201)  # fmt: skip
    assert call(url, "PUT", "/v2/auth/enable", root=True)[0] == 200
    revoke = {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}
    assert call(url, "PUT", "/v2/auth/roles/guest", revoke, root=True)[0] == 200
