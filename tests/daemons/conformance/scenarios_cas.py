"""Scenarios: compare-and-swap and compare-and-delete, with every way they fail.

A wrong prevIndex is written `{i+500}`, an index no scenario reaches, so the cause
`[given != actual]` is comparable across servers. Values are never numbers here, so
the causes' numbers are indexes only.
"""

from __future__ import annotations

from .steps import Scenario, delete, expecting, get, put


def compare_and_swap() -> Scenario:
    r = "/compare-and-swap"
    k = f"{r}/k"
    return Scenario(
        "compare-and-swap",
        [
            put(k, value="one"),  # i+1
            expecting(
                put(k, {"prevValue": "one"}, value="two"),
                status=200,
                body__action="compareAndSwap",
                body__prevNode__value="one",
            ),  # i+2
            expecting(
                put(k, {"prevValue": "one"}, value="three"),
                status=412,
                body={
                    "errorCode": 101,
                    "message": "Compare failed",
                    "cause": "[one != two]",
                    "index": "i+2",
                },
            ),
            put(k, {"prevIndex": "{i+2}"}, value="three"),  # i+3
            expecting(
                put(k, {"prevIndex": "{i+500}"}, value="four"),
                status=412,
                body__cause="[i+500 != i+3]",
            ),
            put(k, {"prevIndex": "{i+500}", "prevValue": "nope"}, value="four"),  # both fail
            put(k, {"prevIndex": "{i+3}", "prevValue": "nope"}, value="four"),  # value fails
            put(k, {"prevIndex": "{i+500}", "prevValue": "three"}, value="four"),  # index fails
            put(k, {"prevIndex": "{i+3}", "prevValue": "three"}, value="four"),  # i+4
            put(k, {"prevValue": "four", "prevExist": True}, value="five"),  # i+5
            put(k, {"prevValue": "four", "prevExist": True}, value="six"),  # 101
            put(k, {"prevValue": "five", "prevExist": False}, value="six"),  # 105
            put(f"{r}/missing", {"prevValue": "x"}, value="y"),  # 100
            put(f"{r}/missing", {"prevIndex": "{i+1}"}, value="y"),  # 100
            put(f"{r}/dir/a", value="in-dir"),  # i+6
            put(f"{r}/dir", {"prevValue": "x"}, value="y"),  # 102
            put(f"{r}/dir", {"prevIndex": "{i+6}"}, value="y"),  # 102
            put(k, {"prevValue": "five"}, value="ttl", ttl=100),  # CAS with a TTL, i+7
            put(k, {"prevIndex": "0"}, value="plain"),  # prevIndex=0 means no compare, i+8
            put(k, {"prevIndex": "{i+8}"}),  # CAS to an empty value, i+9
            put(k, {"prevValue": ""}, value="x"),  # 201
            get(k),
        ],
    )


def compare_and_delete() -> Scenario:
    r = "/compare-and-delete"
    k = f"{r}/k"
    return Scenario(
        "compare-and-delete",
        [
            put(k, value="one"),  # i+1
            expecting(
                delete(k, prevValue="two"),
                status=412,
                body={
                    "errorCode": 101,
                    "message": "Compare failed",
                    "cause": "[two != one]",
                    "index": "i+1",
                },
            ),
            delete(k, prevIndex="{i+500}"),
            delete(k, prevIndex="{i+500}", prevValue="two"),
            delete(k, prevIndex="{i+1}", prevValue="two"),
            expecting(delete(k, prevValue="one"), status=200, body__action="compareAndDelete"),
            put(k, value="again"),  # i+3
            expecting(delete(k, prevIndex="{i+3}"), status=200, body__action="compareAndDelete"),
            delete(k, prevValue="again"),  # 100
            delete(k, prevIndex="{i+3}"),  # 100
            put(f"{r}/dir/a", value="x"),  # i+5
            delete(f"{r}/dir", prevValue="x"),  # 102
            delete(f"{r}/dir", prevIndex="{i+5}"),  # 102
            delete(f"{r}/dir", prevIndex="{i+5}", recursive=True),  # still 102
            put(k, value="three"),  # i+6
            delete(k, prevValue=""),  # 201
            delete(k, prevIndex="x"),  # 203
            delete(k, prevIndex="0"),  # prevIndex=0: a plain delete
            get(r, recursive=True, sorted=True),
        ],
    )


SCENARIOS = [compare_and_swap(), compare_and_delete()]
