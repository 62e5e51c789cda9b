# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""The store client's transport for modules: Ansible's open_url, so targets need
nothing beyond Python and Ansible's own module_utils.

Invariant: an HTTP error status is an answer, not a failure. etcd reports a missing
key or a failed compare as 4xx with a JSON body, so every status comes back as a
`Response` for the client to decode; only an endpoint that cannot be reached raises
`StoreUnavailable` (with a refused connection as its cause, so the client knows the
request was never sent), and a timeout raises `TimeoutError` as the default
transport does.
"""

from __future__ import annotations

import socket
import urllib.error
from email.message import Message

from ansible.module_utils.urls import open_url
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    Request,
    Response,
    StoreUnavailable,
)


class OpenUrlTransport:
    """Sends each `Request` with open_url, with the TLS settings given once."""

    def __init__(
        self,
        ca_path: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        validate_certs: bool = True,
    ) -> None:
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.validate_certs = validate_certs
        # whether a request that changes the store succeeded: a module that fails
        # afterwards still reports `changed`
        self.wrote = False

    def __call__(self, request: Request) -> Response:
        try:
            raw = open_url(
                request.url,
                data=request.body,
                headers=request.headers,
                method=request.method,
                timeout=request.timeout,
                validate_certs=self.validate_certs,
                ca_path=self.ca_path,
                client_cert=self.client_cert,
                client_key=self.client_key,
                follow_redirects="none",
                use_netrc=False,
            )
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return Response(exc.code, _lower(exc.headers), body)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise TimeoutError(f"{request.url}: timed out") from exc
            error = StoreUnavailable(f"{request.url}: {reason}")
            if isinstance(reason, BaseException):
                raise error from reason
            raise error from exc
        except TimeoutError as exc:
            raise TimeoutError(f"{request.url}: timed out") from exc
        except OSError as exc:
            raise StoreUnavailable(f"{request.url}: {exc}") from exc
        with raw:
            response = Response(raw.status, _lower(raw.headers), raw.read())
        if request.method not in ("GET", "HEAD") and response.status < 300:
            self.wrote = True
        return response

    def close(self) -> None:
        """Nothing to let go of: open_url opens a connection per request."""


def _lower(headers: Message | None) -> dict[str, str]:
    items = headers.items() if headers is not None else []
    return {str(k).lower(): str(v) for k, v in items}
