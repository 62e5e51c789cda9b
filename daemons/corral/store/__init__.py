"""corral-store: etcd's v2 keys API on a durable embedded backend.

Layers, each in its own file and usable alone:
- `store` (pure tree, injected clock), `watchers`/`history` (watch hub), `expiry`;
- `requests` (what a keys request does), `params` (parsing it as etcd does);
- `disk` (SQLite, fsync) and `embedded` (group commit; the `KeysBackend` of `backend`);
- `api` (the HTTP API, library-free) and `http` (the httptools adapter);
- `server` and `cli` (the process).
"""

from corral.store.errors import EtcdError
from corral.store.event import Event
from corral.store.store import Store

__all__ = ["EtcdError", "Event", "Store"]
