"""Durability: after SIGKILL and restart, every acknowledged write is there."""

from __future__ import annotations

import time

from corral.testing import StoreServer, wait_until

from .wire import call


def test_acknowledged_writes_survive_sigkill_with_values_indexes_and_ttls(
    store: StoreServer,
) -> None:
    acked = {}
    for i in range(20):
        a = call(store.url, "PUT", f"/v2/keys/dir/k{i}", form={"value": f"v{i}"})
        acked[f"/dir/k{i}"] = a.json["node"]
    ttl = call(store.url, "PUT", "/v2/keys/lease", form={"value": "x", "ttl": "600"}).json
    call(store.url, "DELETE", "/v2/keys/dir/k0")
    del acked["/dir/k0"]
    call(store.url, "POST", "/v2/keys/queue", form={"value": "job"})
    index_before = int(call(store.url, "GET", "/v2/keys/").headers["X-Etcd-Index"])
    store.kill()
    store.start()
    for key, node in acked.items():
        got = call(store.url, "GET", "/v2/keys" + key).json["node"]
        assert got == node
    lease = call(store.url, "GET", "/v2/keys/lease").json["node"]
    assert lease["expiration"] == ttl["node"]["expiration"]
    assert 590 < lease["ttl"] <= 600
    assert call(store.url, "GET", "/v2/keys/dir/k0").status == 404
    assert int(call(store.url, "GET", "/v2/keys/").headers["X-Etcd-Index"]) == index_before
    after = call(store.url, "PUT", "/v2/keys/new", form={"value": "n"}).json
    assert after["node"]["modifiedIndex"] == index_before + 1  # no index reused
    # the history survives too: a watch from an old index is answered from it
    old = call(store.url, "GET", "/v2/keys/dir/k1", query={"wait": "true", "waitIndex": "1"})
    assert old.json["node"]["value"] == "v1"


def test_a_key_whose_ttl_passed_while_down_is_expired_on_start(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/keep", form={"value": "k"})
    call(store.url, "PUT", "/v2/keys/short", form={"value": "s", "ttl": "1"})
    store.kill()
    deadline = time.time() + 1.2
    wait_until(lambda: time.time() > deadline, 5, "the TTL to pass while the store is down")
    store.start()
    assert call(store.url, "GET", "/v2/keys/short").status == 404
    assert call(store.url, "GET", "/v2/keys/keep").status == 200
    event = call(store.url, "GET", "/v2/keys/short", query={"wait": "true", "waitIndex": "3"})
    assert event.json["action"] == "expire"
    assert event.json["node"]["modifiedIndex"] == 3
    assert event.json["prevNode"]["value"] == "s"


def _assert_refuses_to_start(store: StoreServer, reason: str) -> None:
    """The store exits 1 naming `reason`, without a traceback, instead of serving."""
    try:
        store.start()
    except RuntimeError as exc:
        assert "refusing to start" in str(exc) and reason in str(exc)
    else:
        raise AssertionError(f"the store served despite {reason}")
    assert store.proc is not None and store.proc.wait(10) == 1
    assert "Traceback" not in store.log_text()


def test_a_corrupted_data_file_makes_the_store_refuse_to_start(store: StoreServer) -> None:
    for i in range(50):
        call(store.url, "PUT", f"/v2/keys/k{i}", form={"value": "v" * 200})
    store.stop()
    db = store.data_dir / "store.db"
    data = bytearray(db.read_bytes())
    data[0:16] = b"not a database!!"
    db.write_bytes(bytes(data))
    _assert_refuses_to_start(store, "store.db")


def test_ttls_loaded_from_disk_expire_without_any_write(store: StoreServer) -> None:
    call(store.url, "PUT", "/v2/keys/lease", form={"value": "v", "ttl": "2"})
    store.kill()
    store.start()
    assert call(store.url, "GET", "/v2/keys/lease").status == 200
    woken = call(store.url, "GET", "/v2/keys/lease", query={"wait": "true"}, timeout=10)
    assert woken.json["action"] == "expire"


def test_a_torn_last_write_is_dropped_and_the_rest_served(store: StoreServer) -> None:
    for i in range(10):
        call(store.url, "PUT", f"/v2/keys/t{i}", form={"value": f"v{i}"})
    store.kill()
    commit_log = store.data_dir / "store.log"
    data = commit_log.read_bytes()
    end = len(data.rstrip(b"\0"))
    with open(commit_log, "r+b") as f:  # as if the machine died halfway through the last write
        f.seek(end - 40)
        f.write(bytes(40))
    store.start()
    assert call(store.url, "GET", "/v2/keys/t9").status == 404
    for i in range(9):
        assert call(store.url, "GET", f"/v2/keys/t{i}").json["node"]["value"] == f"v{i}"
    index = int(call(store.url, "GET", "/v2/keys/").headers["X-Etcd-Index"])
    assert index == 9
    assert call(store.url, "PUT", "/v2/keys/next", form={"value": "n"}).status == 201
    assert "dropped a torn last write" in store.log_text()
    store.kill()  # what follows the dropped write is read back whole
    store.start()
    assert call(store.url, "GET", "/v2/keys/next").json["node"]["modifiedIndex"] == 10
    assert call(store.url, "GET", "/v2/keys/t8").json["node"]["value"] == "v8"


def test_a_damaged_commit_log_makes_the_store_refuse_to_start(store: StoreServer) -> None:
    for i in range(50):
        call(store.url, "PUT", f"/v2/keys/k{i}", form={"value": "v" * 200})
    store.stop()
    commit_log = store.data_dir / "store.log"
    data = bytearray(commit_log.read_bytes())
    data[1000] ^= 0x20  # a bit flipped in an early record, many records after it
    commit_log.write_bytes(bytes(data))
    _assert_refuses_to_start(store, "store.log: damaged record")
