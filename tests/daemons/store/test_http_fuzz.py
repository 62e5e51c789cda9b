"""Random requests against a real store: never a 5xx, a hang or a dead server."""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlencode, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.testing import StoreServer

PARAMS = [
    "value", "ttl", "dir", "prevExist", "prevValue", "prevIndex", "recursive", "sorted",
    "wait", "waitIndex", "quorum", "refresh", "stream", "noValueOnSuccess",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["true", "false", "1", "0", "", "-1", "5", "18446744073709551616", "%zz"]),
    st.text(max_size=20),
)
SEGMENT = st.one_of(
    st.sampled_from(["a", "b", "_h", "..", ".", "", "%zz", "%2F", "dir"]),
    st.text(min_size=1, max_size=8),
)
REQUEST = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
        "segments": st.lists(SEGMENT, max_size=4),
        "query": st.dictionaries(st.sampled_from(PARAMS), VALUES, max_size=4),
        "form": st.dictionaries(st.sampled_from(PARAMS), VALUES, max_size=4),
    }
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(REQUEST)
def test_random_requests_never_break_the_store(store: StoreServer, req: dict) -> None:
    # A long poll would rightly block: keep malformed `wait` values, drop true ones.
    for params in (req["query"], req["form"]):
        if params.get("wait") in ("1", "t", "T", "TRUE", "true", "True"):
            params["wait"] = "false"
    path = "/v2/keys/" + "/".join(quote(s, safe="%") for s in req["segments"])
    query = urlencode(req["query"])
    parts = urlsplit(store.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        body = urlencode(req["form"]).encode()
        conn.request(
            req["method"],
            path + ("?" + query if query else ""),
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status < 500, (req, resp.status, data)
    if resp.getheader("Content-Type") == "application/json" and req["method"] != "HEAD":
        json.loads(data)
    assert store.alive()
