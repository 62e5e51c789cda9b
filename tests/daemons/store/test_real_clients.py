"""Existing etcd v2 clients work unchanged: python-etcd and etcdctl (ETCDCTL_API=2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from urllib.parse import urlsplit

import etcd

from corral.testing import StoreServer, wait_until

from .wire import call


def test_python_etcd(store: StoreServer) -> None:
    parts = urlsplit(store.url)
    client = etcd.Client(host=parts.hostname, port=parts.port)
    assert client.write("/a/b", "1", ttl=30).ttl == 30
    assert [n.key for n in client.read("/a", recursive=True).children] == ["/a/b"]
    assert client.write("/q", "job", append=True).key.startswith("/q/000000000000000000")
    try:
        client.read("/nope")
    except etcd.EtcdKeyNotFound:
        pass
    else:
        raise AssertionError("a missing key was found")
    try:
        client.write("/a/b", "2", prevValue="x")
    except etcd.EtcdCompareFailed:
        pass
    else:
        raise AssertionError("compare-and-swap ignored prevValue")
    woke: list[str] = []
    watcher = threading.Thread(target=lambda: woke.append(client.watch("/w", timeout=10).value))
    watcher.start()
    wait_until(
        lambda: call(store.url, "GET", "/v2/stats/store").json["watchers"] == 1,
        10,
        "the watch to register",
    )
    client.write("/w", "woke")
    watcher.join(10)
    assert woke == ["woke"]
    assert client.machines == [store.url]


def etcdctl(store: StoreServer, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("etcdctl")
    assert binary, "etcdctl missing: scripts/system-deps.sh installs etcd-client"
    return subprocess.run(
        [binary, "--endpoints", store.url, *args],
        env=dict(os.environ, ETCDCTL_API="2"),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_etcdctl_v2(store: StoreServer) -> None:
    assert etcdctl(store, "set", "/foo", "bar").stdout == "bar\n"
    assert etcdctl(store, "get", "/foo").stdout == "bar\n"
    assert etcdctl(store, "mkdir", "/d").returncode == 0
    assert etcdctl(store, "ls", "-p", "--recursive", "/").stdout.split() == ["/foo", "/d/"]
    missing = etcdctl(store, "get", "/nope")
    assert missing.returncode == 4
    assert missing.stderr.startswith("Error:  100: Key not found (/nope) [")
    assert "cluster is healthy" in etcdctl(store, "cluster-health").stdout
    swap = etcdctl(store, "rm", "/foo", "--with-value", "nope")
    assert swap.returncode == 4 and "101: Compare failed ([nope != bar])" in swap.stderr
