"""corral-store: etcd's v2 keys API on a durable embedded backend or over etcd v3.

Layers, each in its own file and usable alone:
- `store` (pure tree, injected clock), `history` (the last events), `expiry`;
- `watchers` (the watch hub, and `HubWatch`, a watch as the HTTP layer sees it);
- `keys_request` (what a keys request does), `params` (parsing it as etcd does);
- `backend`: `KeysBackend`, the contract both backends implement;
- `disk` (commit logs, SQLite snapshot), `group_commit` (when a batch starts, what
  follows its commit) and `embedded` (the durable node that drives them);
  `etcdv3` (the gateway over an etcd v3 cluster);
- `api` (the HTTP API, library-free) and `http` (the httptools adapter);
- `server` (start-up, the collector's policy in `collector`, stop) and `cli`.
"""

from corral.etcd_errors import EtcdError
from corral.store.event import Event
from corral.store.store import Store

__all__ = ["EtcdError", "Event", "Store"]
