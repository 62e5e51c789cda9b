"""Scenarios: wait and waitIndex, woken by writes from another connection, and the
1000-event history behind waitIndex (errorCode 401 once an index has been cleared).
"""

from __future__ import annotations

from .steps import (
    Await,
    Hangup,
    Repeat,
    Scenario,
    WatcherCount,
    delete,
    expecting,
    get,
    put,
    request,
    watch,
)

HISTORY = 1000  # etcd keeps the last 1000 events for waitIndex


def wait_woken_by_write() -> Scenario:
    r = "/wait-woken-by-write"
    return Scenario(
        "wait-woken-by-write",
        [
            put(f"{r}/k", value="before"),  # i+1
            watch("key", f"{r}/k"),
            watch("missing", f"{r}/new"),  # a key that does not exist yet
            watch("parent", r),  # not recursive: a child's write does not wake it
            watch("tree", r, recursive=True),
            put(f"{r}/k", value="after"),  # i+2
            Await("key", expect={"status": 200, "body.action": "set"}),
            Await("tree"),
            put(f"{r}/new", value="born"),  # i+3
            Await("missing"),
            put(f"{r}/d", dir=True),  # i+4
            watch("now", f"{r}/k", waitIndex="0"),  # waitIndex=0: from now on
            delete(r, recursive=True),  # i+5: wakes the watcher of the directory itself
            Await("parent"),
            Await("now"),
        ],
    )


def wait_index_history() -> Scenario:
    r = "/wait-index-history"
    return Scenario(
        "wait-index-history",
        [
            put(f"{r}/a", value="1"),  # i+1
            put(f"{r}/b", value="2"),  # i+2
            put(f"{r}/a", value="3"),  # i+3
            get(f"{r}/a", wait=True, waitIndex="{i+1}"),  # the oldest matching event
            get(f"{r}/a", wait=True, waitIndex="{i+2}"),  # skips /b's event
            get(f"{r}", wait=True, waitIndex="{i+2}", recursive=True),
            watch("future", f"{r}/a", waitIndex="{i+5}"),
            put(f"{r}/a", value="4"),  # i+4: before the wanted index
            put(f"{r}/a", value="5"),  # i+5
            Await("future"),
            get(f"{r}/a", wait=True, waitIndex="{i+1}", recursive=True),
            get(f"{r}/a", wait="false", waitIndex="{i+1}"),  # no wait: a plain get
            get(f"{r}/a", waitIndex="abc"),  # 203 even without wait
            get(f"{r}/a", wait=True, waitIndex="-1"),  # 203
            get(f"{r}/a", wait="yes"),  # 209
            put(f"{r}/a", {"wait": True}, value="x"),  # 209: wait only with GET
        ],
    )


def watch_deletes_and_dirs() -> Scenario:
    r = "/watch-deletes-and-dirs"
    return Scenario(
        "watch-deletes-and-dirs",
        [
            put(f"{r}/d/x", value="1"),  # i+1
            put(f"{r}/d/y", value="2"),  # i+2
            watch("x", f"{r}/d/x"),
            watch("d", f"{r}/d", recursive=True),
            put(f"{r}/d/y", {"prevValue": "2"}, value="3"),  # i+3: CAS
            Await("d"),
            watch("d2", f"{r}/d", recursive=True),
            expecting(
                get(f"{r}/d", wait=True, waitIndex="{i+3}", recursive=True),
                status=200,
                body__action="compareAndSwap",
            ),
            put(f"{r}/d/x", {"prevExist": True}, value="9"),  # i+4: update
            Await("x"),
            Await("d2"),
            watch("gone", f"{r}/d/x"),
            put(f"{r}/other", value="z"),  # i+5: not under /d
            put(f"{r}/d/x", {"prevValue": "9"}, value="10"),  # i+6
            Await("gone"),
            watch("child", f"{r}/d/x"),
            delete(f"{r}/d", recursive=True),  # i+7: only watchers of /d and above see it
            put(f"{r}/d/x", value="again"),  # i+8: the child's watcher wakes here
            Await("child"),
            get(f"{r}/d", wait=True, waitIndex="{i+7}"),
            delete(f"{r}/other"),  # i+9
            get(f"{r}/other", wait=True, waitIndex="{i+6}"),
        ],
    )


def hidden_keys_and_watches() -> Scenario:
    r = "/hidden-keys-and-watches"
    return Scenario(
        "hidden-keys-and-watches",
        [
            put(f"{r}/visible", value="v"),  # i+1
            watch("tree", r, recursive=True),
            put(f"{r}/_hidden", value="h"),  # i+2: hidden from the recursive watcher
            put(f"{r}/_dir/x", value="h"),  # i+3: so is anything under a hidden dir
            put(f"{r}/visible", value="w"),  # i+4
            Await("tree", expect={"status": 200, "body.node.modifiedIndex": "i+4"}),
            # etcd's history scan does not hide keys: a recursive waitIndex sees them.
            expecting(
                get(r, wait=True, waitIndex="{i+2}", recursive=True),
                status=200,
                body__node__key=f"{r}/_hidden",
            ),
            watch("exact", f"{r}/_hidden"),  # watching a hidden key by name works
            put(f"{r}/_hidden", value="again"),  # i+5
            Await("exact"),
            watch("under", f"{r}/_dir", recursive=True),  # below the hidden dir itself
            put(f"{r}/_dir/y", value="seen"),  # i+6
            Await("under"),
        ],
    )


def many_watchers_one_write() -> Scenario:
    r = "/many-watchers-one-write"
    keys = [f"k{n}" for n in range(40)]
    trees = [f"t{n}" for n in range(20)]
    return Scenario(
        "many-watchers-one-write",
        [
            put(f"{r}/k", value="before"),  # i+1
            *(watch(name, f"{r}/k") for name in keys),
            *(watch(name, r, recursive=True) for name in trees),
            put(f"{r}/k", value="after"),  # i+2: every watcher wakes with this event
            *(Await(name) for name in keys + trees),
            get(f"{r}/k"),
        ],
    )


def watchers_of_closed_connections() -> Scenario:
    r = "/watchers-of-closed-connections"
    names = [f"w{n}" for n in range(10)]
    return Scenario(
        "watchers-of-closed-connections",
        [
            put(f"{r}/k", value="v"),  # i+1
            WatcherCount(0),
            *(watch(name, f"{r}/k") for name in names),
            WatcherCount(len(names)),
            *(Hangup(name) for name in names[:-1]),  # clients that went away
            WatcherCount(1),  # their watchers are gone, without any write
            put(f"{r}/k", value="w"),  # i+2
            Await(names[-1]),
            WatcherCount(0),
        ],
    )


def event_history_limit() -> Scenario:
    r = "/event-history-limit"
    writes = HISTORY + 100
    first_kept = writes - HISTORY + 1  # i+101: the oldest index still in the history
    return Scenario(
        "event-history-limit",
        [
            Repeat(request("PUT", f"{r}/k", value="v"), writes),  # i+1 .. i+1100
            expecting(
                get(f"{r}/k", wait=True, waitIndex="{i+1}"),
                status=400,
                body={
                    "errorCode": 401,
                    "message": "The event in requested index is outdated and cleared",
                    "cause": f"the requested history has been cleared [i+{first_kept}/i+1]",
                    "index": f"i+{writes}",
                },
            ),
            get(f"{r}/k", wait=True, waitIndex=f"{{i+{first_kept - 1}}}"),  # just cleared
            expecting(
                get(f"{r}/k", wait=True, waitIndex=f"{{i+{first_kept}}}"),  # just kept
                status=200,
                body__node__modifiedIndex=f"i+{first_kept}",
            ),
            get(f"{r}", wait=True, waitIndex="{i+1}", recursive=True),
            get(f"{r}/k", wait=True, waitIndex=f"{{i+{writes}}}"),  # the newest event
        ],
    )


SCENARIOS = [
    wait_woken_by_write(),
    wait_index_history(),
    watch_deletes_and_dirs(),
    hidden_keys_and_watches(),
    many_watchers_one_write(),
    watchers_of_closed_connections(),
    event_history_limit(),
]
