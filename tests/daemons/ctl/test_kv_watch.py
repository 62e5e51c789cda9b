"""corralctl kv watch and exec-watch against etcdctl v2: changes written by another
process while the watch waits, history replayed from --after-index, directory events
skipped, TTL expiry, and Ctrl-C ending a watch quietly with status 0.

The servers are shared by the tests of this module; only the first waits for watches
to be in place (counting them in /v2/stats/store), the others watch from an index
so that no write can slip in before the watch starts.
"""

from __future__ import annotations

from ctl_diff import CORRALCTL, Background, Pair, start_both

ECHO_EVENT = (
    'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY [$ETCD_WATCH_VALUE]'
    ' ETCD_WATCH_MODIFIED_INDEX=$ETCD_WATCH_MODIFIED_INDEX"'
)


def _corralctl(pair: Pair, *args: str, name: str, ignore_sigint: bool = False) -> Background:
    argv = [*CORRALCTL, "--endpoint", pair.subject_url, "kv", *args]
    return Background(argv, pair.env, pair.work, name, ignore_sigint=ignore_sigint)


def _stop(*watchers: Background) -> None:
    for w in watchers:
        w.stop()


def test_watch_sees_a_write_from_another_process(pair: Pair) -> None:
    pair.check("set", "/w", "0")
    ref, ours = start_both(pair, "watch", "/w", name="once")
    # etcdctl finds the key only after a flag; corralctl reads KEY [--] COMMAND anyway.
    plain = _corralctl(pair, "exec-watch", "/w", "--", "sh", "-c", ECHO_EVENT, name="plain")
    background = _corralctl(pair, "watch", "/never", name="bg", ignore_sigint=True)
    try:
        pair.wait_for_watchers(reference=1, subject=3)
        pair.check("mkdir", "/w-sibling")  # not the watched key: no event
        pair.check("set", "/w", "1")
        pair.assert_same(ref.wait(), ours.wait(), "watch /w")
        plain.wait_for_lines(1)
        plain_out = plain.interrupt()
        background_out = background.interrupt()
    finally:
        _stop(ref, ours, plain, background)
    assert ours.lines() == ["1"]
    assert (background_out.stdout, background_out.stderr, background_out.code) == ("", "", 0)
    assert plain_out.stdout.startswith("set /w [1] ETCD_WATCH_MODIFIED_INDEX=")
    assert (plain_out.stderr, plain_out.code) == ("", 0)
    pair.check("watch")  # "key required", exit 1


def test_watch_forever_until_ctrl_c(pair: Pair) -> None:
    start = pair.mark("/r-start")
    pair.check("set", "/r/a", "1")
    pair.check("mkdir", "/r/dir")  # directory events are skipped
    pair.check("rm", "/r/a")
    ref, ours = start_both(
        pair, "watch", "--forever", "-r", "--after-index", start, "/r", name="forever"
    )
    try:
        for w in (ref, ours):
            w.wait_for_lines(4)  # the history since `start`: set and delete
        pair.check("set", "/r/dir/b", "2")  # now, from another process
        for w in (ref, ours):
            w.wait_for_lines(6)
        pair.assert_same(ref.interrupt(), ours.interrupt(), "watch --forever")
    finally:
        _stop(ref, ours)
    assert ours.wait().code == 0
    assert ours.lines() == [
        *["[set] /r/a", "1", "[delete] /r/a", "PrevNode.Value: 1"],
        *["[set] /r/dir/b", "2"],
    ]


def test_watch_in_json_sees_expiry(pair: Pair) -> None:
    pair.check("set", "--ttl", "1", "/expiring", "v")
    after = pair.modified_index("/expiring")
    ref, ours = start_both(
        pair, "-o", "json", "watch", "--after-index", after, "/expiring", name="expire"
    )
    try:
        pair.assert_same(ref.wait(), ours.wait(), "watch an expiring key")
    finally:
        _stop(ref, ours)
    assert '"action":"expire"' in ours.lines()[0]


def test_exec_watch_runs_the_command_per_event(pair: Pair) -> None:
    pair.check("exec-watch", "/x")  # "key and command to exec required", exit 1
    start = pair.mark("/x-start")
    # etcdctl finds the key only when a boolean flag comes last before it.
    ref, ours = start_both(
        pair, "exec-watch", "--after-index", start, "--recursive", "/x", "--",
        "sh", "-c", ECHO_EVENT, name="exec",
    )  # fmt: skip
    try:
        for want, (command, *args) in enumerate(
            [("set", "/x/a", "1"), ("set", "/x/a", "two words"), ("rm", "/x/a")], start=1
        ):
            pair.check(command, *args)
            for w in (ref, ours):  # one at a time: the commands run concurrently
                w.wait_for_lines(want)
        pair.check("mkdir", "/x/dir")
        for w in (ref, ours):
            w.wait_for_lines(1, stream="err")
        pair.assert_same(ref.interrupt(), ours.interrupt(), "exec-watch")
    finally:
        _stop(ref, ours)
    assert [line.rsplit("=", 1)[0] for line in ours.lines()] == [
        "set /x/a [1] ETCD_WATCH_MODIFIED_INDEX",
        "set /x/a [two words] ETCD_WATCH_MODIFIED_INDEX",
        "delete /x/a [] ETCD_WATCH_MODIFIED_INDEX",
    ]
    assert ours.lines("err") == ["Ignored dir /x/dir change"]


def test_exec_watch_of_a_missing_program_says_so(pair: Pair) -> None:
    start = pair.mark("/p-start")
    ours = _corralctl(
        pair, "exec-watch", "--after-index", start.subject, "/p", "no-such-program", name="nop"
    )
    try:
        pair.check("set", "/p", "v")
        done = ours.wait()
    finally:
        ours.stop()
    assert done.code == 1
    assert "no-such-program" in done.stderr and "Traceback" not in done.stderr


def test_watch_from_a_cleared_index_fails_as_etcdctl(pair: Pair) -> None:
    start = pair.mark("/busy")
    pair.write_many("/busy", 1001)  # the store keeps the last 1000 events
    pair.check("watch", "--after-index", start, "/busy")  # 401, exit 4
