"""Scenarios: the cluster endpoints (/version, /health, /v2/members, /v2/machines,
/v2/stats/*) and Debian's etcdctl speaking v2 to the server.

Cluster endpoints carry values that differ by nature (member ids, names, uptimes,
counters), so most are compared by shape: the same keys with the same JSON types.
The server's own URL reads "<url>" on both sides.
"""

from __future__ import annotations

from dataclasses import replace

from .steps import Call, Etcdctl, Scenario, differs, expecting, http


def shape_of(target: str) -> Call:
    return replace(http("GET", target), shape=True)


MEMBER = {"clientURLs": ["str"], "id": "str", "name": "str", "peerURLs": ["str"]}
NO_PEERS = (
    "a corral-store node has no raft peers, so it lists no peer URL rather than an "
    "invented one; etcd lists its peer listener"
)


def member_shape(target: str, etcd_shape: dict[str, object]) -> Call:
    """A member answer: etcd's shape, except that peerURLs is an empty list for us."""

    def without_peers(shape: object) -> object:
        if isinstance(shape, dict):
            return {k: [] if k == "peerURLs" else without_peers(v) for k, v in shape.items()}
        if isinstance(shape, list):
            return [without_peers(v) for v in shape]
        return shape

    step = differs(
        shape_of(target),
        only=("status", "body"),
        why=NO_PEERS,
        instead={"status": 200, "body": without_peers(etcd_shape)},
    )
    return expecting(step, status=200, body=etcd_shape)


def cluster_endpoints() -> Scenario:
    return Scenario(
        "cluster-endpoints",
        [
            expecting(
                shape_of("/version"), status=200, body={"etcdcluster": "str", "etcdserver": "str"}
            ),
            expecting(
                differs(
                    http("GET", "/health"),
                    only=("status", "body"),
                    why="etcd 3.4 writes /health without a Content-Type, so Go sniffs "
                    "text/plain; ours says application/json. The body is the same JSON, which "
                    "is what health checks read",
                ),
                status=200,
                body={"health": "true"},
            ),
            member_shape("/v2/members", {"members": [MEMBER]}),
            expecting(http("GET", "/v2/machines"), status=200, body="<url>"),
            shape_of("/v2/stats/self"),
            shape_of("/v2/stats/store"),
            expecting(shape_of("/v2/stats/leader"), body={"followers": {}, "leader": "str"}),
            member_shape("/v2/members/leader", MEMBER),
        ],
    )


def ctl(*args: str, **expect: object) -> Etcdctl:
    step = Etcdctl(tuple(args))
    return replace(step, expect=expect) if expect else step


def etcdctl_v2() -> Scenario:
    r = "/etcdctl-v2"
    return Scenario(
        "etcdctl-v2",
        [
            ctl("set", f"{r}/a", "hello", rc=0, stdout="hello\n"),  # i+1
            ctl("get", f"{r}/a", rc=0, stdout="hello\n"),
            ctl(
                "get",
                f"{r}/missing",
                rc=4,
                stdout="",
                stderr=f"Error:  100: Key not found ({r}/missing) [i+1]\n",
            ),
            ctl("mk", f"{r}/a", "again"),
            ctl("mk", f"{r}/b", "bee"),  # i+2
            ctl("mkdir", f"{r}/d"),  # i+3
            ctl("mkdir", f"{r}/d"),
            ctl("setdir", f"{r}/e"),  # i+4
            ctl("update", f"{r}/a", "world"),  # i+5
            ctl("update", f"{r}/zzz", "x"),
            ctl("set", f"{r}/a", "swapped", "--swap-with-value", "world"),  # i+6
            ctl("set", f"{r}/a", "nope", "--swap-with-value", "world"),
            ctl("set", f"{r}/a", "by-index", "--swap-with-index", "{i+6}"),  # i+7
            ctl("ls", r, "--recursive", "--sort", "-p"),
            ctl("ls", f"{r}/nothing"),
            ctl("-o", "extended", "get", f"{r}/a"),
            ctl("-o", "json", "get", f"{r}/a"),
            ctl("watch", f"{r}/a", "--after-index", "{i+6}"),
            ctl("rm", f"{r}/a", "--with-value", "nope"),
            ctl("rm", f"{r}/a", "--with-index", "{i+7}"),  # i+8
            ctl("rm", f"{r}/d"),
            ctl("rmdir", f"{r}/d"),  # i+9
            ctl("rmdir", f"{r}/e"),  # i+10
            ctl("rm", r),
            ctl("rm", "--recursive", r),  # i+11
            ctl("ls", r),
        ],
    )


SCENARIOS = [cluster_endpoints(), etcdctl_v2()]
