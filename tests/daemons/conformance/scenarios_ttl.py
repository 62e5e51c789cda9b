"""Scenarios: TTL expiry and refresh.

Expiry uses TTLs of 2 s (short, with room for the next request to land first on a
loaded machine) and polls (bounded) until the key is gone; etcd expires keys on a
500 ms tick. The expire event is then read back from the history with waitIndex,
which also proves that the expiry advanced the index by one.
"""

from __future__ import annotations

from .steps import (
    Await,
    PollUntil,
    Scenario,
    delete,
    expecting,
    get,
    in_lease_order,
    put,
    request,
    watch,
)

# etcd v3 revokes leases that expire together concurrently, in no fixed order.
LEASES_UNORDERED = "keys whose leases expire together are revoked by etcd in any order"


def key_expiry() -> Scenario:
    r = "/key-expiry"
    return Scenario(
        "key-expiry",
        [
            put(f"{r}/short", value="v", ttl=2),  # i+1
            put(f"{r}/keep", value="stays"),  # i+2
            PollUntil(request("GET", f"{r}/short"), status=404),
            expecting(
                get(f"{r}/short", wait=True, waitIndex="{i+3}"),
                status=200,
                body={
                    "action": "expire",
                    "node": {"key": f"{r}/short", "modifiedIndex": "i+3", "createdIndex": "i+1"},
                    "prevNode": {
                        "key": f"{r}/short",
                        "value": "v",
                        "expiration": "<expiration>",
                        "modifiedIndex": "i+1",
                        "createdIndex": "i+1",
                    },
                },
            ),
            get(f"{r}", recursive=True),
            put(f"{r}/short", {"prevExist": False}, value="new"),  # i+4: the name is free
        ],
    )


def dir_expiry() -> Scenario:
    r = "/dir-expiry"
    return Scenario(
        "dir-expiry",
        [
            put(f"{r}/d", dir=True, ttl=2),  # i+1
            put(f"{r}/d/a/b", value="inside"),  # i+2
            PollUntil(request("GET", f"{r}/d"), status=404),
            get(f"{r}/d/a/b"),  # the children went with it
            get(f"{r}", wait=True, waitIndex="{i+3}", recursive=True),
        ],
    )


def expiry_wakes_watchers() -> Scenario:
    r = "/expiry-wakes-watchers"
    return Scenario(
        "expiry-wakes-watchers",
        [
            put(f"{r}/k", value="v", ttl=2),  # i+1
            # waitIndex names the expiry, so a watch registered late still sees it.
            watch("key", f"{r}/k", waitIndex="{i+2}"),
            watch("tree", r, recursive=True, waitIndex="{i+2}"),
            Await("key"),
            Await("tree"),
            get(f"{r}/k"),
        ],
    )


def ttl_refresh() -> Scenario:
    r = "/ttl-refresh"
    k = f"{r}/k"
    return Scenario(
        "ttl-refresh",
        [
            put(k, value="v", ttl=100),  # i+1
            expecting(
                put(k, {"refresh": True, "prevExist": True}, ttl=200),
                status=200,
                body__action="update",
                body__node__value="v",
                body__node__ttl=200,
            ),  # i+2
            watch("quiet", k, waitIndex="{i+3}"),
            put(k, {"refresh": True, "prevExist": True}, ttl=300),  # i+3, wakes no watcher
            put(k, value="real"),  # i+4: a real write, the watcher's first event
            # The refresh at i+3 woke no one: the first event seen is the write at i+4.
            Await("quiet", expect={"body.action": "set", "body.node.modifiedIndex": "i+4"}),
            put(k, {"refresh": True}, ttl=50),  # refresh without prevExist, i+5
            get(k),
            put(f"{r}/plain", value="no ttl"),  # i+6
            put(f"{r}/plain", {"refresh": True, "prevExist": True}, ttl=30),  # gains a TTL
            put(f"{r}/missing", {"refresh": True, "prevExist": True}, ttl=30),  # 100
            put(f"{r}/missing", {"refresh": True}, ttl=30),
            put(k, {"refresh": True, "prevExist": True}, value="x", ttl=30),  # 211
            put(k, {"refresh": True, "prevExist": True}),  # 212
            put(k, {"refresh": True, "prevValue": "real"}, ttl=40),  # refresh as a CAS
            put(k, {"refresh": True, "prevValue": "wrong"}, ttl=40),  # 101
            put(f"{r}/d", dir=True, ttl=100),
            put(f"{r}/d", {"refresh": True, "prevExist": True}, ttl=150),  # a directory
            put(f"{r}/short", value="v", ttl=3),
            put(f"{r}/short", {"refresh": True, "prevExist": True}, ttl=100),  # keeps it alive
            get(f"{r}", recursive=True, sorted=True),
            put(k, {"refresh": True, "prevExist": True}, ttl=0),  # ttl 0: expires now
            PollUntil(request("GET", k), status=404),
        ],
    )


def many_expiries() -> Scenario:
    r = "/many-expiries"
    return Scenario(
        "many-expiries",
        [
            *(put(f"{r}/k{n}", value=str(n), ttl=2) for n in range(5)),  # i+1 .. i+5
            put(f"{r}/gone/k", value="x", ttl=2),  # i+6
            delete(f"{r}/gone", recursive=True),  # i+7: its TTL goes with it
            put(f"{r}/cas", value="a", ttl=2),  # i+8
            put(f"{r}/cas", {"prevValue": "a"}, value="b"),  # i+9: CAS without ttl: permanent
            PollUntil(request("GET", f"{r}/k4"), status=404),
            # One expire event per key, in order of expiry, nothing for the deleted key.
            *(
                in_lease_order(
                    get(f"{r}", wait=True, recursive=True, waitIndex=f"{{i+{n}}}"),
                    LEASES_UNORDERED,
                )
                for n in range(10, 15)
            ),
            get(r, recursive=True, sorted=True),  # the CAS'd key stayed
            put(f"{r}/k0", {"refresh": True, "prevExist": True}, ttl=5),  # 100: expired
        ],
    )


SCENARIOS = [
    key_expiry(),
    dir_expiry(),
    expiry_wakes_watchers(),
    ttl_refresh(),
    many_expiries(),
]
