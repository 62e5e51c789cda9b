"""HTTP calls with HTTP Basic credentials, and auth switched on with a closed guest."""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

ROOT_PASSWORD = "root-secret"
Answer = tuple[int, Any]


def call(url: str, method: str, path: str, body: Any = None, root: bool = False,
         form: str | None = None, user: tuple[str, str] | None = None) -> Answer:  # fmt: skip
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {}
    if root:
        user = ("root", ROOT_PASSWORD)
    if user is not None:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    data: bytes | None = None
    if form is not None:
        data = form.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode("utf-8", "replace")


def enable_auth(url: str) -> None:
    """Auth on, with a root user and a guest that may do nothing."""
    assert call(url, "PUT", "/v2/auth/users/root",
                {"user": "root", "password": ROOT_PASSWORD})[0] in (200, 201)  # fmt: skip
    assert call(url, "PUT", "/v2/auth/enable", root=True)[0] == 200
    revoke = {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}
    assert call(url, "PUT", "/v2/auth/roles/guest", revoke, root=True)[0] == 200
