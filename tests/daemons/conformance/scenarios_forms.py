"""Scenarios: where parameters come from, as Go's Request.ParseForm reads them.

Form bodies count only for PUT and POST with a form Content-Type (charset allowed);
a DELETE's or a GET's body is ignored; a repeated parameter counts by its first
value, the body's before the query's; names are case-sensitive; a JSON body is not a
form. Long keys go through the URL, so URL limits are tested here too.
"""

from __future__ import annotations

from .steps import Scenario, get, http, put

FORM = "application/x-www-form-urlencoded"


def form_parsing() -> Scenario:
    r = "/form-parsing"
    k = f"/v2/keys{r}"
    return Scenario(
        "form-parsing",
        [
            http("PUT", f"{k}/a", b"value=charset", Content_Type=f"{FORM}; charset=utf-8"),
            http("PUT", f"{k}/b", b'{"value": "json"}', Content_Type="application/json"),
            http("PUT", f"{k}/c", b"value=no-type"),  # no Content-Type: not a form
            http("PUT", f"{k}/d?value=first&value=second"),
            http("PUT", f"{k}/e?value=query", b"value=body&value=body2", Content_Type=FORM),
            http("GET", f"{k}/d?Recursive=true&Sorted=maybe"),  # unknown names are ignored
            http("DELETE", f"{k}/d", b"prevValue=wrong", Content_Type=FORM),  # body ignored
            http("GET", f"{k}/e", b"wait=true", Content_Type=FORM),  # GET body ignored
            http("POST", f"{k}/q", b"value=posted", Content_Type=FORM),
            http("PUT", f"{k}/f?ttl=", b"value=x&ttl=", Content_Type=FORM),  # empty: no TTL
            http("PUT", f"{k}/g", b"value=x&dir=false", Content_Type=FORM),
            http("PUT", f"{k}/h", b"&&value=amp&&", Content_Type=FORM),
            http("PUT", f"{k}/i", b"value", Content_Type=FORM),  # a name without "="
            http("PUT", f"{k}/j", b"value=a;b", Content_Type=FORM),
            get(r, recursive=True, sorted=True),
        ],
    )


def long_keys() -> Scenario:
    r = "/long-keys"
    eight_kib = "k" * 8192
    deep = "/".join(["d"] * 200)
    return Scenario(
        "long-keys",
        [
            put(f"{r}/{eight_kib}", value="long"),
            get(f"{r}/{eight_kib}"),
            put(f"{r}/{deep}", value="deep"),
            get(r, recursive=True),
        ],
    )


SCENARIOS = [form_parsing(), long_keys()]
