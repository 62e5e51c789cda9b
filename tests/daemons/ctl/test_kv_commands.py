"""corralctl kv against etcdctl v2: every key and directory command and option, errors
included, compared on stdout, stderr and exit status. The output formats are covered
in test_kv_formats.py; here everything is in the default (simple) format."""

from __future__ import annotations

from ctl_diff import Pair

AWKWARD = 'b<a>&r "q" \\ é\ttab\nnewline \x01 \u2028'


def test_keys(pair: Pair) -> None:
    pair.check("set", "/k", "one")
    pair.check("get", "/k")
    pair.check("set", "/k", "two")
    pair.check("get", "--sort", "--quorum", "/k")
    pair.check("mk", "/k", "x")  # 105 already exists
    pair.check("mk", "/k2", "new")
    pair.check("update", "/k", "three")
    pair.check("update", "/missing", "v")  # 100
    pair.check("get", "/missing")  # 100
    pair.check("set", "--ttl", "100", "/ttl", "v")
    pair.check("update", "--ttl", "200", "/ttl", "w")
    pair.check("set", "--ttl", "-5", "/neg", "a negative ttl is ignored")
    pair.check("-o", "json", "get", "/neg")
    pair.check("mk", "--ttl", "60", "/mk", "v")
    pair.check("mk", "--in-order", "/queue", "a")
    pair.check("mk", "--in-order", "--ttl", "50", "/queue", "b")
    pair.check("set", "/awkward", AWKWARD)
    pair.check("set", "/empty", "")
    pair.check("get", "/empty")
    pair.check("set", "/k/below", "v")  # 104 not a directory
    pair.check("set", "/queue", "v")  # 102 not a file
    pair.check("get", "/queue")  # a directory: exit 1


def test_compare_and_swap_and_delete(pair: Pair) -> None:
    pair.check("set", "/cas", "three")
    pair.check("set", "--swap-with-value", "three", "/cas", "four")
    pair.check("set", "--swap-with-value", "nope", "/cas", "five")  # 101
    pair.check("set", "--swap-with-index", pair.modified_index("/cas"), "/cas", "six")
    pair.check("set", "--swap-with-index", "1", "/cas", "seven")  # 101 [1 != N]
    pair.check("set", "--swap-with-value", "six", "--swap-with-index", "1", "/cas", "x")
    pair.check("set", "--swap-with-value", "v", "/missing", "x")  # 100
    pair.check("rm", "--with-value", "nope", "/cas")  # 101
    pair.check("rm", "--with-index", "1", "/cas")  # 101
    pair.check("rm", "--with-index", pair.modified_index("/cas"), "/cas")
    pair.check("set", "/cas", "again")
    pair.check("rm", "--with-value", "again", "/cas")
    pair.check("rm", "/cas")  # 100 gone


def test_directories(pair: Pair) -> None:
    pair.check("mkdir", "/d")
    pair.check("mkdir", "/d")  # 105
    pair.check("setdir", "/d")  # 102: an existing directory is changed with updatedir
    pair.check("updatedir", "--ttl", "100", "/d")
    pair.check("updatedir", "/missing")  # 100
    pair.check("setdir", "/d2")
    pair.check("mkdir", "--ttl", "100", "/d3")
    pair.check("set", "/d/k", "v")
    pair.check("mkdir", "/d/k/sub")  # 104
    pair.check("rm", "/d")  # 102 not a file
    pair.check("rmdir", "/d")  # 108 not empty
    pair.check("rm", "--dir", "/d")  # 108
    pair.check("rm", "--dir", "/d/k")  # --dir removes a key too
    pair.check("set", "/d/k", "v")
    pair.check("rm", "-r", "/d")
    pair.check("rm", "--dir", "/d2")
    pair.check("rmdir", "/d3")
    pair.check("rmdir", "/missing")  # 100
    pair.check("rm", "-r", "/")  # 107 the root is read only


def test_listings(pair: Pair) -> None:
    for key, value in (("/l/a", "1"), ("/l/b/c", "2"), ("/l/b/d/e", "3"), ("/l/_hidden", "h")):
        pair.check("set", key, value)
    pair.check("mkdir", "/l/empty")
    pair.check("ls", "--sort", "/l")
    pair.check("ls", "--sort", "-p", "/l")
    pair.check("ls", "--sort", "--recursive", "/l")
    pair.check("ls", "--sort", "-r", "-p", "/l")
    pair.check("ls", "/l/a")  # a key lists itself
    pair.check("ls", "/l/missing")  # 100
    pair.check("ls", "--sort", "-q", "/l/empty")
    # Unsorted listings come in the server's own order: compare them as sets.
    ref, ours = pair.run("ls", "-r")
    assert (sorted(ours.stdout.splitlines()), ours.stderr, ours.code) == (
        sorted(ref.stdout.splitlines()),
        ref.stderr,
        ref.code,
    )
    assert "/l/b/d/e" in ours.stdout.splitlines()
    assert "_hidden" not in ours.stdout


def test_keys_are_cleaned_as_etcdctl_cleans_them(pair: Pair) -> None:
    pair.check("set", "a//b/./c/../d", "v")
    pair.check("get", "/x/../a/b/d/")
    pair.check("get", "")  # the root: ": is a directory"
    pair.check("ls", "a/b")


def test_key_names_that_need_escaping_in_urls(pair: Pair) -> None:
    for name in ("sp ace", "q?x=1&y", "h#frag", "pct%41+plus", "é;ü"):
        pair.check("set", f"/names/{name}", name)
    pair.check("get", "/names/pct%41+plus")
    pair.check("ls", "--sort", "/names")


def test_values_from_stdin_and_missing_arguments(pair: Pair) -> None:
    pair.check("set", "/s", stdin=b"from stdin\n")
    pair.check("get", "/s")
    pair.check("mk", "/m", stdin=b"made")
    pair.check("update", "/m", stdin=b"updated")
    pair.check("get", "/m")
    pair.check("set", "/novalue")  # "value required", exit 1
    pair.check("mk", "/novalue")
    for command in ("get", "set", "mkdir", "rm"):
        pair.check(command)  # "key required", exit 1
