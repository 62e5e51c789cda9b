"""Scenarios: keys and directories (get, set, create, update, delete, listings).

Each builder returns a Scenario working under `/<name>`; see steps.py for the
vocabulary and `{i+N}` index templates.
"""

from __future__ import annotations

from .steps import CORS, Repeat, Scenario, delete, expecting, get, head, post, put, request

OK_HEADERS = {
    **CORS,
    "content-type": "application/json",
    "x-raft-index": "<present>",
    "x-raft-term": "<present>",
    "x-etcd-cluster-id": "<present>",
}


def set_get_delete() -> Scenario:
    r = "/set-get-delete"
    return Scenario(
        "set-get-delete",
        [
            expecting(
                put(f"{r}/a", value="one"),
                status=201,
                headers={**OK_HEADERS, "x-etcd-index": "i+1"},
                body={
                    "action": "set",
                    "node": {
                        "key": f"{r}/a",
                        "value": "one",
                        "modifiedIndex": "i+1",
                        "createdIndex": "i+1",
                    },
                },
            ),
            expecting(
                get(f"{r}/a"),
                status=200,
                body={
                    "action": "get",
                    "node": {
                        "key": f"{r}/a",
                        "value": "one",
                        "modifiedIndex": "i+1",
                        "createdIndex": "i+1",
                    },
                },
            ),
            expecting(put(f"{r}/a", value="two"), status=200, body__prevNode__value="one"),
            put(f"{r}/a", value=""),
            get(f"{r}/a"),
            put(f"{r}/b"),  # no value at all: etcd stores ""
            expecting(
                delete(f"{r}/a"),
                status=200,
                body={
                    "action": "delete",
                    "node": {"key": f"{r}/a", "modifiedIndex": "i+5", "createdIndex": "i+3"},
                    "prevNode": {
                        "key": f"{r}/a",
                        "value": "",
                        "modifiedIndex": "i+3",
                        "createdIndex": "i+3",
                    },
                },
            ),
            expecting(
                get(f"{r}/a"),
                status=404,
                headers={
                    **CORS,
                    "content-type": "application/json",
                    "x-etcd-index": "i+5",
                    "x-raft-index": "<absent>",
                    "x-raft-term": "<absent>",
                    "x-etcd-cluster-id": "<present>",
                },
                body={
                    "errorCode": 100,
                    "message": "Key not found",
                    "cause": f"{r}/a",
                    "index": "i+5",
                },
            ),
            delete(f"{r}/a"),
            put(f"{r}/a", value="back"),
            get(f"{r}/a"),
            put(f"{r}/a", {"value": "from-query"}),  # parameters in the URL work too
            put(f"{r}/a", {"value": "query"}, value="form"),  # form body wins over query
            get(f"{r}/a"),
            get(f"{r}/a", quorum=True),
        ],
    )


def create_update() -> Scenario:
    r = "/create-update"
    return Scenario(
        "create-update",
        [
            expecting(
                put(f"{r}/a", {"prevExist": False}, value="1"), status=201, body__action="create"
            ),
            expecting(
                put(f"{r}/a", {"prevExist": False}, value="2"), status=412, body__errorCode=105
            ),
            expecting(
                put(f"{r}/a", {"prevExist": True}, value="3"), status=200, body__action="update"
            ),
            expecting(
                put(f"{r}/b", {"prevExist": True}, value="3"), status=404, body__errorCode=100
            ),
            put(f"{r}/a", {"prevExist": "false"}, value="4"),
            put(f"{r}/c", {"prevExist": "0"}, value="5"),
            put(f"{r}/c", {"prevExist": "1"}, value="6"),
            put(f"{r}/c", {"prevExist": "True"}, value="7"),
            put(f"{r}/c", {"prevExist": "f"}, value="8"),
            get(f"{r}", recursive=True),
        ],
    )


def directories() -> Scenario:
    r = "/directories"
    return Scenario(
        "directories",
        [
            expecting(
                put(f"{r}/d", dir=True),
                status=201,
                body={
                    "action": "set",
                    "node": {
                        "key": f"{r}/d",
                        "dir": True,
                        "modifiedIndex": "i+1",
                        "createdIndex": "i+1",
                    },
                },
            ),
            get(f"{r}/d"),
            put(f"{r}/d", dir=True),  # 102: set on an existing directory
            put(f"{r}/d", {"prevExist": True}, dir=True),  # update of a directory
            put(f"{r}/d", {"prevExist": False}, dir=True),  # 105
            put(f"{r}/d", value="x"),  # 102: a value over a directory
            put(f"{r}/d/x/y/z", value="deep"),  # implicit directories
            get(f"{r}/d/x"),
            get(f"{r}/d/x/y/z/w"),  # 100 under a key
            put(f"{r}/d/x/y/z/w", value="v"),  # 104: a key is not a directory
            post(f"{r}/d/x/y/z", value="v"),  # 104
            put(f"{r}/d/x/y/z", dir=True),  # 102 over a key
            put(f"{r}/d/x/y/z", {"prevExist": True}, dir=True),  # key into a directory
            get(f"{r}/d", recursive=True),
            delete(f"{r}/d"),  # 102: a directory needs dir=true
            delete(f"{r}/d", dir=True),  # 108: not empty
            delete(f"{r}/d/x/y/z", dir=True),
            delete(f"{r}/d", recursive=True),
            get(f"{r}/d"),
            put(f"{r}/e", dir=True),
            expecting(delete(f"{r}/e", dir=True), status=200, body__action="delete"),
            put(f"{r}/f", value="file"),
            delete(f"{r}/f", dir=True),  # dir=true also deletes a key
            put(f"{r}/g", value="file"),
            delete(f"{r}/g", recursive=True),  # and so does recursive=true
            put(f"{r}/h", dir=True),
            delete(f"{r}/h", recursive=True),
            put(f"{r}/i", dir=True),
            put(f"{r}/i", {"prevExist": True}, value="x"),  # 102: update a dir with a value
            put(f"{r}/j", dir=True, value="ignored"),  # a directory has no value
            post(f"{r}/j", dir=True, value="ignored"),
            get(f"{r}/j", recursive=True),
        ],
    )


def listings() -> Scenario:
    r = "/listings"
    keys = ["b", "a", "c/z", "c/a", "c/m/2", "c/m/1", "_hidden", "c/_h/x", "0"]
    return Scenario(
        "listings",
        [
            *(put(f"{r}/{k}", value=k) for k in keys),
            get(f"{r}"),
            get(f"{r}", sorted=True),
            get(f"{r}", recursive=True),
            expecting(
                get(f"{r}", recursive=True, sorted=True),
                body__node__nodes=[
                    {"key": f"{r}/0", "value": "0", "modifiedIndex": "i+9", "createdIndex": "i+9"},
                    {"key": f"{r}/a", "value": "a", "modifiedIndex": "i+2", "createdIndex": "i+2"},
                    {"key": f"{r}/b", "value": "b", "modifiedIndex": "i+1", "createdIndex": "i+1"},
                    {
                        "key": f"{r}/c",
                        "dir": True,
                        "nodes": [
                            {
                                "key": f"{r}/c/a",
                                "value": "c/a",
                                "modifiedIndex": "i+4",
                                "createdIndex": "i+4",
                            },
                            {
                                "key": f"{r}/c/m",
                                "dir": True,
                                "nodes": [
                                    {
                                        "key": f"{r}/c/m/1",
                                        "value": "c/m/1",
                                        "modifiedIndex": "i+6",
                                        "createdIndex": "i+6",
                                    },
                                    {
                                        "key": f"{r}/c/m/2",
                                        "value": "c/m/2",
                                        "modifiedIndex": "i+5",
                                        "createdIndex": "i+5",
                                    },
                                ],
                                "modifiedIndex": "i+5",
                                "createdIndex": "i+5",
                            },
                            {
                                "key": f"{r}/c/z",
                                "value": "c/z",
                                "modifiedIndex": "i+3",
                                "createdIndex": "i+3",
                            },
                        ],
                        "modifiedIndex": "i+3",
                        "createdIndex": "i+3",
                    },
                ],
            ),
            get(f"{r}/c", sorted=True),
            get(f"{r}/_hidden"),  # hidden keys are readable by name
            get(f"{r}/c/_h", recursive=True),
            get(f"{r}/c/m/1", recursive=True, sorted=True),  # flags on a key are ignored
            delete(f"{r}/c", recursive=True),
            get(f"{r}", recursive=True, sorted=True),
            get(""),  # the root: sees the scenario directory, not hidden keys
            get("/", recursive=False),
        ],
    )


def in_order_keys() -> Scenario:
    r = "/in-order-keys"
    return Scenario(
        "in-order-keys",
        [
            expecting(
                post(f"{r}/q", value="first"),
                status=201,
                body={
                    "action": "create",
                    "node": {
                        "key": f"{r}/q/<i+1>",
                        "value": "first",
                        "modifiedIndex": "i+1",
                        "createdIndex": "i+1",
                    },
                },
            ),
            post(f"{r}/q", value="second"),
            post(f"{r}/q", value="third", ttl=100),
            post(f"{r}/q"),  # no value: an empty one
            post(f"{r}/q", dir=True),  # an in-order directory
            get(f"{r}/q", sorted=True),
            get(f"{r}/q", sorted=True, recursive=True),
            post(f"{r}/new/dir", value="implicit"),  # POST creates the directory too
            get(f"{r}/new", recursive=True, sorted=True),
        ],
    )


def long_queue() -> Scenario:
    r = "/long-queue"
    return Scenario(
        "long-queue",
        [
            Repeat(request("POST", f"{r}/q", value="job"), 300),  # i+1 .. i+300
            get(f"{r}/q", sorted=True),  # 300 in-order keys, in creation order
            expecting(
                delete(f"{r}/q/{{I+1}}"),  # the head of the queue, by its name
                status=200,
                body__prevNode__key=f"{r}/q/<i+1>",
            ),
            get(f"{r}/q", sorted=True, recursive=True),
        ],
    )


def head_requests() -> Scenario:
    r = "/head-requests"
    return Scenario(
        "head-requests",
        [
            put(f"{r}/a", value="1"),
            expecting(head(f"{r}/a"), status=200, body=""),
            head(f"{r}/missing"),
            head(f"{r}", recursive=True),
        ],
    )


def ttl_on_set_and_dirs() -> Scenario:
    r = "/ttl-on-set-and-dirs"
    return Scenario(
        "ttl-on-set-and-dirs",
        [
            expecting(
                put(f"{r}/a", value="1", ttl=100),
                status=201,
                body__node__ttl=100,
                body__node__expiration="<expiration>",
            ),
            get(f"{r}/a"),
            put(f"{r}/a", value="2"),  # a set without ttl makes the key permanent
            get(f"{r}/a"),
            put(f"{r}/a", value="3", ttl=""),  # empty ttl: no TTL
            put(f"{r}/d", dir=True, ttl=100),
            put(f"{r}/d/k", value="in"),
            get(f"{r}/d"),
            put(f"{r}/d", {"prevExist": True}, dir=True, ttl=200),
            put(f"{r}/d", {"prevExist": True}, dir=True),  # update drops the TTL
            get(f"{r}/d"),
            put(f"{r}/b", {"prevExist": False}, value="x", ttl=50),
            put(f"{r}/b", {"prevExist": True}, value="y", ttl=60),
            put(f"{r}/b", {"prevExist": True}, value="z"),
            get(f"{r}", recursive=True, sorted=True),
        ],
    )


def sort_order() -> Scenario:
    r = "/sort-order"
    names = ["a10", "a2", "B", "b", "_x", "Z", "\u00e9", "z", "a-1", "a.1", "10", "9", "~"]
    return Scenario(
        "sort-order",
        [
            *(put(f"{r}/{n}", value=n) for n in names),
            put(f"{r}/dir/inner", value="in"),
            get(r, sorted=True),  # byte order of the keys, hidden `_x` left out
            get(r, sorted=True, recursive=True),
            get(r, sorted="1"),  # strconv.ParseBool spellings
            get(r, sorted="T"),
        ],
    )


SCENARIOS = [
    set_get_delete(),
    create_update(),
    directories(),
    listings(),
    in_order_keys(),
    long_queue(),
    head_requests(),
    ttl_on_set_and_dirs(),
    sort_order(),
]
