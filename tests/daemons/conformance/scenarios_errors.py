"""Scenarios: every error code the keys API gives, and malformed requests.

Codes reached here: 100 101 102 104 105 107 108 (store), 201 202 203 209 210 211 212
(request parsing), 401 (scenarios_watch). etcd 3.4 never returns the others from the
keys API: 103 106 109 are v1 peer errors, 110 needs auth enabled (v2 auth is out of
scope), 200 204-208 400 402-404 and 500 are defined but nothing in etcd 3.4 raises
them, and 300/301 come from raft (leader loss, proposal timeouts, a full disk) and
cannot be provoked on a healthy one-node etcd: the store's own tests cover its 300.
"""

from __future__ import annotations

from .steps import CORS, Call, Scenario, differs, expecting, get, http, put, put_body, raw

ERROR_HEADERS = {
    **CORS,
    "content-type": "application/json",
    "x-etcd-index": 0,
    "x-raft-index": "<absent>",
    "x-raft-term": "<absent>",
    "x-etcd-cluster-id": "<present>",
}


def invalid(code: int, message: str, cause: str) -> dict[str, object]:
    return {"errorCode": code, "message": message, "cause": cause, "index": 0}


def root_and_store_errors() -> Scenario:
    r = "/root-and-store-errors"
    return Scenario(
        "root-and-store-errors",
        [
            expecting(
                put("/", value="x"),
                status=400,
                body__errorCode=107,
                body__message="Root is read only",
                body__cause="/",
            ),
            put("", dir=True),
            http("DELETE", "/v2/keys/?recursive=true"),
            http("DELETE", "/v2/keys/?dir=true"),
            http("DELETE", "/v2/keys"),
            put("/", {"prevExist": True}, dir=True),
            put("/", {"prevValue": "x"}, value="y"),
            put(f"{r}/f", value="1"),
            expecting(put(f"{r}/f/g", value="1"), status=400, body__errorCode=104),
            expecting(put(r, value="1"), status=403, body__errorCode=102),
            put(f"{r}/d/e", value="1"),
            expecting(
                http("DELETE", f"/v2/keys{r}/d?dir=true"),
                status=403,
                body__errorCode=108,
                body__message="Directory not empty",
            ),
        ],
    )


def parse_errors() -> Scenario:
    r = "/parse-errors"
    k = f"{r}/k"
    return Scenario(
        "parse-errors",
        [
            put(k, value="v"),
            expecting(
                put(k, {"prevValue": ""}, value="x"),
                status=400,
                headers=ERROR_HEADERS,
                body=invalid(
                    201, "PrevValue is Required in POST form", '"prevValue" cannot be empty'
                ),
            ),
            expecting(
                put(k, value="x", ttl="abc"),
                status=400,
                headers=ERROR_HEADERS,
                body=invalid(
                    202, "The given TTL in POST form is not a number", 'invalid value for "ttl"'
                ),
            ),
            put(k, value="x", ttl="-1"),
            put(k, value="x", ttl="1.5"),
            put(k, value="x", ttl="99999999999999999999999"),
            put(k, value="x", ttl=" 5"),
            expecting(
                put(k, {"prevIndex": "one"}, value="x"),
                status=400,
                body=invalid(
                    203,
                    "The given index in POST form is not a number",
                    'invalid value for "prevIndex"',
                ),
            ),
            get(k, wait=True, waitIndex="1e3"),
            expecting(
                get(k, recursive="maybe"),
                status=400,
                body=invalid(209, "Invalid field", 'invalid value for "recursive"'),
            ),
            get(k, sorted="2"),
            get(k, quorum="no"),
            put(k, dir="yes"),
            get(k, stream="x"),
            put(k, {"prevExist": "perhaps"}, value="x"),
            put(k, {"refresh": "sure"}, ttl=5),
            get(k, noValueOnSuccess="x"),
            expecting(
                put(k, {"refresh": True}, value="x", ttl=5),
                status=400,
                body=invalid(211, "Value provided on refresh", "A value was provided on a refresh"),
            ),
            expecting(
                put(k, {"refresh": True}),
                status=400,
                body=invalid(212, "A TTL must be provided on refresh", "No TTL value set"),
            ),
            expecting(
                http("PUT", f"/v2/keys{k}?%zz=1"),
                status=400,
                body=invalid(210, "Invalid POST form", 'invalid URL escape "%zz"'),
            ),
            put_body(f"/v2/keys{k}", b"value=%G0"),
            put(k, {"noValueOnSuccess": True}, value="quiet"),
            get(k),
            put(k, {"ttl": "7"}, value="both", ttl="abc"),  # the form's ttl is read first
            put(k, {"prevIndex": "1", "prevValue": ""}, value="x"),  # 203 before 201
            get(k, wait=True, waitIndex="x", recursive="x"),  # 203 before 209
        ],
    )


def methods_and_paths() -> Scenario:
    r = "/methods-and-paths"
    return Scenario(
        "methods-and-paths",
        [
            put(f"{r}/a", value="1"),
            expecting(
                http("PATCH", f"/v2/keys{r}/a"),
                status=405,
                headers={
                    **CORS,
                    "content-type": "text/plain; charset=utf-8",
                    "allow": "HEAD,GET,PUT,POST,DELETE",
                    "x-raft-index": "<absent>",
                    "x-raft-term": "<absent>",
                    "x-etcd-cluster-id": "<absent>",
                },
                body="Method Not Allowed",
            ),
            http("OPTIONS", f"/v2/keys{r}/a"),
            http("BREW", f"/v2/keys{r}/a"),
            http("GET", "/v2/nothing-here"),
            http("GET", "/nothing-here"),
            http("POST", "/version"),
            http("PUT", "/v2/machines"),
        ],
    )


NOT_UTF8 = (
    "etcd keeps keys as bytes, the store as text: a path that is not UTF-8 is refused"
    " with error 209 rather than folded into another key"
)


def odd_keys_and_values() -> Scenario:
    r = "/odd-keys-and-values"
    return Scenario(
        "odd-keys-and-values",
        [
            put_body(f"/v2/keys{r}/sp%20ace", b"value=1"),
            put(f"{r}/snow\u2603man", value="\u00e9t\u00e9 \U0001f600"),
            put_body(f"/v2/keys{r}/a%2Fb", b"value=slash"),  # %2F is a separator
            get(f"{r}/a/b"),
            put_body(f"/v2/keys{r}/q%3Fx%3D1", b"value=q"),
            put_body(f"/v2/keys{r}/plus+sign", b"value=a+b%2Bc"),
            put_body(f"/v2/keys{r}/pct%25", b"value=%25"),
            put_body(f"/v2/keys{r}/bad-utf8", b"value=%FF%FEok"),
            get(f"{r}/bad-utf8"),
            put(f"{r}/trailing/", value="t"),  # the trailing slash is dropped
            get(f"{r}/trailing"),
            put(f"{r}/dot.key", value="."),
            put(f"{r}/-dash_under~", value="-"),
            put(f"{r}/multi", value='line one\nline two\ttab"quote\\'),
            put(f"{r}/nul", value="a\x00b"),
            http("GET", f"/v2/keys{r}/../{r[1:]}/multi"),  # not clean: a redirect
            http("GET", f"/v2/keys/{r}/multi"),  # double slash: a redirect
            put(f"{r}/amp", {"value": "a&b=c+d%e"}),  # query values are decoded
            http("PUT", f"/v2/keys{r}/raw-query?value=a%26b%3Dc%2Bd+e"),
            http("GET", f"/v2/keys{r}/raw-query?recursive=%74rue"),  # an encoded "true"
            http("PUT", f"/v2/keys{r}/bad-query?value=%FF%FE"),  # bad UTF-8 in the query
            get(r, recursive=True, sorted=True),
            # last: etcd takes an index for the first, the store none
            differs(
                put_body(f"/v2/keys{r}/%C3%28", b"value=1"), ("status",), NOT_UTF8, {"status": 400}
            ),
            # lowercase escape, bad UTF-8 key
            differs(http("GET", f"/v2/keys{r}/%ff"), ("status",), NOT_UTF8, {"status": 400}),
        ],
    )


def huge_bodies() -> Scenario:
    r = "/huge-bodies"
    return Scenario(
        "huge-bodies",
        [
            put_body(f"/v2/keys{r}/one-mib", b"value=" + b"x" * (1 << 20)),
            get(f"{r}/one-mib"),
            expecting(
                put_body(f"/v2/keys{r}/too-big", b"value=" + b"x" * (11 << 20)),
                status=400,
                body=invalid(210, "Invalid POST form", "http: POST too large"),
            ),
            get(f"{r}/too-big"),
        ],
    )


def malformed_http() -> Scenario:
    why = (
        "a request that is not HTTP never reaches the keys API: etcd's listener closes "
        "some of these connections without a word, and the store must answer every "
        "malformed request with a clear 4xx instead of dropping the connection"
    )

    def bad(data: bytes, etcd: str) -> Call:
        return expecting(
            differs(raw(data), only=("status_class",), why=why, instead={"status_class": "4xx"}),
            status_class=etcd,
        )

    return Scenario(
        "malformed-http",
        [
            bad(b"GARBAGE\r\n\r\n", etcd="dropped"),
            bad(b"GET /v2/keys/x HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n", etcd="4xx"),
            bad(b"GET /v2/keys/%ZZ HTTP/1.1\r\nHost: a\r\n\r\n", etcd="4xx"),
            bad(b"GET /v2/keys/x HTTP/1.1\r\nNo-Colon-Header\r\n\r\n", etcd="4xx"),
            bad(b"GET /v2/keys/x HTTP/9.9\r\nHost: a\r\n\r\n", etcd="dropped"),
        ],
    )


SCENARIOS = [
    root_and_store_errors(),
    parse_errors(),
    methods_and_paths(),
    odd_keys_and_values(),
    huge_bodies(),
    malformed_http(),
]
