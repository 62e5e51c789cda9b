"""`/metrics` on corral-store's client URLs, as etcd serves it: Prometheus's text format,
etcd's own names (v2 store counters, WAL fsync, process) with etcd's types and labels,
checked against a real etcd; and what each counts, on both backends."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from corral.testing import EtcdServer, Samples, sample, scrape, wait_until

from .wire import call

# name -> (type, label names), label `le` of histogram buckets left out
Shapes = dict[str, tuple[str, frozenset[str]]]


def _scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def _shapes(text: str) -> Shapes:
    return {
        family.name: (
            family.type,
            frozenset(k for s in family.samples for k in s.labels if k != "le"),
        )
        for family in text_string_to_metric_families(text)
    }


def _etcd_shapes(etcd: EtcdServer) -> Shapes:
    """etcd's /metrics once its v2 store has read, written and watched (a labelled
    counter appears only once counted)."""
    call(etcd.url, "PUT", "/v2/keys/probe", form={"value": "1"})
    call(etcd.url, "GET", "/v2/keys/probe")
    call(etcd.url, "GET", "/v2/keys/", query={"recursive": "true"})
    call(etcd.url, "GET", "/v2/keys/probe", query={"wait": "true", "waitIndex": "1"})
    return _shapes(_scrape(etcd.url)[1])


def test_etcd_names_have_etcd_types_and_labels(url: str, tmp_path: Path) -> None:
    kind, text = _scrape(url)
    assert kind.startswith("text/plain; version=0.0.4")  # what Prometheus 2 and etcd 3.4 speak
    ours = _shapes(text)
    staleness = re.search(r"^corral_store_etcd_replica_staleness_seconds (\S+)$", text, re.M)
    assert staleness is not None and float(staleness.group(1)) < 5
    borrowed = {n: s for n, s in ours.items() if n.startswith(("etcd_", "process_"))}
    assert {
        "etcd_debugging_store_reads", "etcd_debugging_store_writes",
        "etcd_debugging_store_expires", "etcd_debugging_store_watch_requests",
        "etcd_debugging_store_watchers", "etcd_disk_wal_fsync_duration_seconds",
        "process_cpu_seconds", "process_resident_memory_bytes",
    } <= set(borrowed)  # fmt: skip
    assert all(n.startswith(("etcd_", "process_", "corral_store_")) for n in ours), ours
    etcd = EtcdServer(tmp_path / "reference").start()
    try:
        theirs = _etcd_shapes(etcd)
        with urllib.request.urlopen(f"{etcd.url}/metrics", timeout=10) as answer:
            etcd_text = answer.read().decode()
    finally:
        etcd.stop()
    for name, shape in borrowed.items():
        assert theirs.get(name) == shape, (name, shape, theirs.get(name))
    # the WAL fsync histogram has etcd's buckets
    bounds = r'^etcd_disk_wal_fsync_duration_seconds_bucket\{le="([^"]+)"\}'
    assert re.findall(bounds, text, re.M) == re.findall(bounds, etcd_text, re.M)


def _count(samples: Samples, name: str, **labels: str) -> float:
    return sample(samples, name, **labels) or 0.0


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _count(after, name, **labels) - _count(before, name, **labels)


def _stream(url: str, path: str) -> socket.socket:
    """A stream=true watch held open on a raw connection."""
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=10)
    s.sendall(b"GET /v2/keys%s?wait=true&stream=true HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    return s


def test_reads_writes_watches_and_expiries_are_counted_as_etcd_counts_them(url: str) -> None:
    metrics = f"{url}/metrics"
    before = scrape(metrics)
    call(url, "PUT", "/v2/keys/dir/a", form={"value": "1"})  # set
    assert call(url, "PUT", "/v2/keys/dir/a", form={"value": "2", "prevExist": "false"}).status \
        == 412  # a create, refused  # fmt: skip
    call(url, "PUT", "/v2/keys/dir/a", form={"value": "3", "prevExist": "true"})  # update
    call(url, "PUT", "/v2/keys/dir/a", form={"value": "4", "prevValue": "3"})  # compareAndSwap
    call(url, "POST", "/v2/keys/queue", form={"value": "x"})  # create
    call(url, "GET", "/v2/keys/dir/a")  # get
    call(url, "GET", "/v2/keys/dir", query={"recursive": "true"})  # getRecursive
    assert call(url, "GET", "/v2/keys/missing").status == 404  # get, failed
    call(url, "DELETE", "/v2/keys/dir/a", query={"prevValue": "4"})  # compareAndDelete
    call(url, "DELETE", "/v2/keys/queue", query={"dir": "true", "recursive": "true"})  # delete
    call(url, "PUT", "/v2/keys/brief", form={"value": "t", "ttl": "1"})  # set, then expires
    for n in range(3):
        call(url, "PUT", f"/v2/keys/three/k{n}", form={"value": "v"})  # set x3: 4 nodes

    polled: list[int] = []
    poll = threading.Thread(
        target=lambda: polled.append(call(url, "GET", "/v2/keys/w", query={"wait": "true"}).status)
    )
    poll.start()
    with _stream(url, "/s"):
        wait_until(lambda: _count(scrape(metrics), "etcd_debugging_store_watchers") == 2, 10,
                   "a long poll and a stream registered")  # fmt: skip
        held = scrape(metrics)
        assert _count(held, "corral_store_stream_watchers") == 1
        call(url, "PUT", "/v2/keys/w", form={"value": "woken"})  # set
        poll.join(10)
        assert polled == [200]
    wait_until(lambda: _count(scrape(metrics), "etcd_debugging_store_watchers") == 0, 10,
               "watchers gone")  # fmt: skip
    wait_until(lambda: _delta(before, scrape(metrics), "etcd_debugging_store_expires_total") == 1,
               15, "the TTL key's expiry counted")  # fmt: skip
    after = scrape(metrics)

    writes = "etcd_debugging_store_writes_total"
    assert {a: _delta(before, after, writes, action=a) for a in (
        "set", "create", "update", "compareAndSwap", "delete", "compareAndDelete"
    )} == {"set": 6, "create": 2, "update": 1, "compareAndSwap": 1, "delete": 1,
           "compareAndDelete": 1}  # fmt: skip
    reads = "etcd_debugging_store_reads_total"
    assert _delta(before, after, reads, action="get") == 2
    assert _delta(before, after, reads, action="getRecursive") == 1
    assert _delta(before, after, "etcd_debugging_store_watch_requests_total") == 2
    assert _delta(before, after, "corral_store_writes_failed_total", action="create") == 1
    assert _delta(before, after, "corral_store_writes_failed_total", action="set") == 0
    assert _delta(before, after, "corral_store_reads_failed_total") == 1
    # /dir, /three and its 3 keys, /w: what the tree holds now, more than before
    assert _delta(before, after, "corral_store_keys") == 6
    requests = "corral_store_requests_total"
    assert _delta(before, after, requests, method="GET", code="404") == 1
    assert _delta(before, after, requests, method="PUT", code="412") == 1
    assert _delta(before, after, requests, method="POST", code="201") == 1
    assert _delta(before, after, requests, method="GET", code="200") >= 3  # reads and watches


def test_a_method_nobody_knows_is_counted_as_other(url: str) -> None:
    """Any token is a method to HTTP: counted by name, each would be a series of its own."""
    parts = urlsplit(url)
    before = scrape(f"{url}/metrics")
    for method in (b"FOO", b"BAR"):
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
            s.sendall(method + b" /v2/keys/k HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 405 ")
    after = scrape(f"{url}/metrics")
    requests = "corral_store_requests_total"
    assert _delta(before, after, requests, method="other", code="405") == 2
    assert not any(labels and ("method", "FOO") in labels for _, labels in after)


def test_the_embedded_backend_reports_its_disk(tmp_path: Path) -> None:
    from corral.testing import StoreServer

    store = StoreServer(tmp_path / "store").start()
    try:
        before = scrape(f"{store.url}/metrics")
        for n in range(5):
            call(store.url, "PUT", f"/v2/keys/k{n}", form={"value": "v" * 100})
        after = scrape(f"{store.url}/metrics")
    finally:
        store.stop()
    fsyncs = _delta(before, after, "etcd_disk_wal_fsync_duration_seconds_count")
    batches = _delta(before, after, "corral_store_commit_batch_writes_count")
    # one client writing in turn: one commit, one fdatasync per write
    assert fsyncs == batches == 5
    assert _delta(before, after, "corral_store_commit_batch_writes_sum") == 5
    assert _delta(before, after, "corral_store_log_bytes") > 5 * 100


def _auth_call(url: str, method: str, path: str, user: str = "", body: object = None) -> int:
    headers = {"Content-Type": "application/json"}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_auth_refusals_are_counted_by_reason(tmp_path: Path) -> None:
    from corral.testing import StoreServer

    store = StoreServer(tmp_path / "store").start()
    url, root = store.url, "root:root-pw"
    try:
        assert _auth_call(url, "PUT", "/v2/auth/users/root", body={
            "user": "root", "password": "root-pw"}) == 201  # fmt: skip
        assert _auth_call(url, "PUT", "/v2/auth/enable", root) == 200
        revoke = {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}
        assert _auth_call(url, "PUT", "/v2/auth/roles/guest", root, revoke) == 200
        before = scrape(f"{url}/metrics")
        assert _auth_call(url, "GET", "/v2/keys/k", "root:wrong") == 401
        assert _auth_call(url, "GET", "/v2/auth/users", "root:wrong") == 401
        assert _auth_call(url, "GET", "/v2/keys/k") == 401  # the guest may not read
        assert _auth_call(url, "GET", "/v2/keys/k", root) == 404  # root may: not refused
        after = scrape(f"{url}/metrics")
    finally:
        store.stop()
    failures = "corral_store_auth_failures_total"
    assert _delta(before, after, failures, reason="credentials") == 2
    assert _delta(before, after, failures, reason="permission") == 1
