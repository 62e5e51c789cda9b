"""Scenarios: the cluster endpoints (/version, /health, /v2/members, /v2/machines,
/v2/stats/*).

Cluster endpoints carry values that differ by nature (member ids, names, uptimes,
counters), so most are compared by shape: the same keys with the same JSON types.
The server's own URL reads "<url>" on both sides.
"""

from __future__ import annotations

from dataclasses import replace

from .steps import Call, Scenario, differs, expecting, http


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


VERSIONS = {"etcdcluster": "str", "etcdserver": "str"}


def cluster_endpoints() -> Scenario:
    return Scenario(
        "cluster-endpoints",
        [
            expecting(
                differs(
                    shape_of("/version"),
                    only=("status", "body"),
                    why="corral-store adds its own version (corral) beside etcd's two",
                    instead={"status": 200, "body": {**VERSIONS, "corral": "str"}},
                ),
                status=200,
                body=VERSIONS,
            ),
            expecting(http("GET", "/health"), status=200, body={"health": "true"}),
            member_shape("/v2/members", {"members": [MEMBER]}),
            expecting(http("GET", "/v2/machines"), status=200, body="<url>"),
            shape_of("/v2/stats/self"),
            shape_of("/v2/stats/store"),
            expecting(shape_of("/v2/stats/leader"), body={"followers": {}, "leader": "str"}),
            member_shape("/v2/members/leader", MEMBER),
        ],
    )


SCENARIOS = [cluster_endpoints()]
