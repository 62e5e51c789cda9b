"""corral-store's `etcd` backend: the v2 keys API with its state in an etcd v3 cluster.

Layers, each in its own file:
- `layout` (pure): where a v2 node lives in v3 (keys, values, the op record);
- `plan` (pure): what a v2 write does, as one v3 transaction guarded by compares;
- `batch` (pure): writes arriving together as one transaction of nested ones, and
  the v2 index each takes (revision + delta + position);
- `committer`: a gateway's group commit, one batch in flight at a time;
- `format` (pure): the data format recorded in etcd, refused when unknown;
- `sparse_history`: the last 1000 v2 events, tolerating revisions that are not ours;
- `wire`: unary calls to one member over raw HTTP/1.1 keep-alive connections;
- `client`: etcd's JSON gateway, every member in turn, with failover (watches on aiohttp);
- `feed`: one v3 watch per gateway, turned into v2 events for the watcher hub;
- `backend`: the `KeysBackend` that ties them together;
- `untrusted`: what is in etcd is untrusted input, and how bad records are reported;
- `staleness` (pure): how stale a replica cut off from etcd may be.

Nothing is imported here: the embedded backend's process must not pay for aiohttp.
"""
