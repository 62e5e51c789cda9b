"""corralctl kv -o json|extended|<unknown> against etcdctl v2: each kind of answer (new
key, replaced key with prevNode, TTLs, in-order keys, deletions, directories, listings,
errors) in each format, compared on stdout, stderr and exit status."""

from __future__ import annotations

from ctl_diff import Pair


def test_every_kind_of_answer_in_json(pair: Pair) -> None:
    o = ["-o", "json"]
    pair.check(*o, "set", "/k", 'b<a>&r "q" \\ é\ttab\nnewline \x01 \u2028')
    pair.check(*o, "set", "/k", "two")
    pair.check(*o, "get", "/k")
    pair.check(*o, "set", "--ttl", "100", "/ttl", "v")
    pair.check(*o, "get", "/ttl")
    pair.check(*o, "mk", "--in-order", "/queue", "a")
    pair.check(*o, "update", "/k", "three")
    pair.check(*o, "rm", "/k")
    pair.check(*o, "mkdir", "--ttl", "100", "/d")
    pair.check(*o, "updatedir", "/d")
    pair.check(*o, "set", "/d/k", "v")
    pair.check(*o, "ls", "--sort", "-r", "/")
    pair.check(*o, "ls", "/d/k")
    pair.check(*o, "rm", "-r", "/d")
    pair.check(*o, "setdir", "/e")
    pair.check(*o, "rmdir", "/e")
    pair.check(*o, "get", "/k")  # errors are text in every format, as in etcdctl
    pair.check(*o, "get", "/queue")


def test_every_kind_of_answer_extended(pair: Pair) -> None:
    o = ["-o", "extended"]
    pair.check(*o, "set", "--ttl", "100", "/x", "one")
    pair.check(*o, "set", "/x", "two\nlines")  # with PrevNode.Value
    pair.check(*o, "get", "/x")
    pair.check(*o, "rm", "/x")
    pair.check(*o, "mkdir", "/xd")
    pair.check(*o, "ls", "/xd")
    pair.check(*o, "rmdir", "/xd")
    pair.check(*o, "get", "/x")


def test_unknown_format_is_reported_after_the_change(pair: Pair) -> None:
    pair.check("-o", "yaml", "set", "/k", "v")  # said on stderr, exit 0
    pair.check("-o", "yaml", "mkdir", "/yaml")
    pair.check("get", "/k")



def test_a_listing_as_deep_as_the_store_allows(pair: Pair) -> None:
    """399 levels below /deep (corral-store's --max-key-depth is 400): rendered as etcdctl
    renders it, where corralctl's recursive renderer used to end in a RecursionError."""
    key = "/deep/" + "/".join(["x"] * 398)
    pair.check("set", key, "v")
    pair.check("-o", "json", "ls", "-r", "/deep")
    pair.check("-o", "extended", "ls", "-r", "/deep")
