"""How long one call to etcd may take over every member (`--etcd-request-timeout`).

Kept apart from the client so the command line reads it without loading aiohttp.
"""

from __future__ import annotations

# One call's whole time over every member: a client waits this long, then gets 300.
DEADLINE = 8.0
# Beyond this a v2 client has long given up (etcd's own request timeout is ~7 s); a
# longer deadline only holds requests in the gateway.
MAX_DEADLINE = 300.0
