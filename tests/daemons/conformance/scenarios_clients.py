"""Scenarios: real clients against the server. Debian's etcdctl speaking v2 (it first
syncs its endpoints from /v2/members, then talks to the URLs listed there), and curl
as in the walk-through, including what curl does on its own: `Expect: 100-continue`
before a body over 1 MiB, chunked bodies, HTTP/1.0, following a redirect.
"""

from __future__ import annotations

from dataclasses import replace

from .steps import Curl, Etcdctl, Scenario


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


def curl(*args: str, stdin: bytes = b"", **expect: object) -> Curl:
    parts = {k.replace("__", "."): v for k, v in expect.items()}
    return Curl(tuple(args), stdin=stdin, expect=parts or None)


def curl_walkthrough() -> Scenario:
    r = "/curl-walkthrough"
    k = "{url}/v2/keys" + r
    big = b"value=" + b"x" * (2 << 20)  # over 1 MiB: curl asks `Expect: 100-continue`
    return Scenario(
        "curl-walkthrough",
        [
            curl("-X", "PUT", f"{k}/hello", "-d", "value=world", rc=0, statuses=["201"]),
            curl(f"{k}/hello", rc=0, statuses=["200"], body__node__value="world"),
            curl(
                "-X",
                "PUT",
                f"{k}/big",
                "--data-binary",
                "@-",
                "-o",
                "/dev/null",
                stdin=big,
                rc=0,
                statuses=["100", "201"],
            ),
            curl("-X", "PUT", f"{k}/expect", "-H", "Expect: 100-continue", "-d", "value=e"),
            curl("-X", "PUT", f"{k}/chunked", "-H", "Transfer-Encoding: chunked", "-d", "value=c"),
            curl(f"{k}/chunked"),
            curl("-0", f"{k}/hello", rc=0, statuses=["200"]),
            curl("-L", "--path-as-is", f"{k}/../{r[1:]}/hello", statuses=["301", "200"]),
            curl(f"{k}/hello?wait=true&waitIndex={{i+1}}"),
            curl("-X", "POST", f"{k}/queue", "-d", "value=job"),
            curl("-X", "DELETE", f"{k}/hello"),
            curl(f"{k}/hello", rc=0, statuses=["404"], body__errorCode=100),
            curl("-X", "PUT", f"{k}/form", "--data-urlencode", "value=a b&c=d"),
            curl(f"{k}/form"),
            curl(f"{k}?sorted=true"),
        ],
    )


SCENARIOS = [etcdctl_v2(), curl_walkthrough()]
