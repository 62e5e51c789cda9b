"""`corralctl kv`: etcdctl v2's key-value commands, through `corral.client`.

`corralctl kv [-o simple|json|extended] COMMAND ...` behaves as `ETCDCTL_API=2 etcdctl
[-o FORMAT] COMMAND ...` does (etcdctl/ctlv2/command): the same output, the same
messages and the same exit codes (1 bad arguments, 2 store unreachable, 4 error from
the store), so scripts written for etcdctl keep working.

Invariants:
- A key is cleaned as the Go client cleans it (`a//b/../c` is `/a/c`, a trailing
  slash is kept) before it is sent.
- Zero or negative `--ttl`, an empty `--swap-with-value`/`--with-value` and a zero
  `--swap-with-index`/`--with-index` mean "not given", as in etcdctl.
- A missing value is read from standard input; an empty one is an error.
- Watches skip directory events (exec-watch says so on stderr), resume from the index
  after the last event so none is missed, and Ctrl-C ends them quietly with status 0.

Where etcdctl is deliberately not copied: usage errors are argparse's messages (same
status 1; an unknown command too, where etcdctl says 3); `exec-watch KEY -- CMD` finds
its key with or without flags before it (etcdctl needs a boolean flag last before the
key); a store lost in the middle of a watch is status 2 like any unreachable store
(etcdctl: 4); extra arguments are refused rather than ignored.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from corral.client import Client, EtcdError, Result, StoreUnavailable
from corral.ctl.kv_output import display_key, error_line, listing, render
from corral.ctl.main import (
    EXIT_BAD_ARGS,
    EXIT_BAD_CONNECTION,
    EXIT_SERVER_ERROR,
    EXIT_SUCCESS,
    Context,
)
from corral.ctl.output import add_output

# A run of empty long-poll answers this long means the server is broken, not idle.
MAX_EMPTY_WATCH_ANSWERS = 100

_SURROGATES = re.compile("[\ud800-\udfff]")

Command = Callable[[argparse.Namespace, Context], int]


class BadArgs(Exception):
    """Bad input on the command line: printed as `Error:  MESSAGE`, exit status 1."""


def clean_key(key: str) -> str:
    """The key as the Go client sends it: `path.Clean` of "/"+key, trailing slash kept."""
    parts: list[str] = []
    for part in key.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    cleaned = "/" + "/".join(parts)
    if key.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def watch_environment(result: Result, base: dict[str, str]) -> dict[str, str]:
    """The environment exec-watch gives its command for one event."""
    return {
        **base,
        "ETCD_WATCH_ACTION": result.action,
        "ETCD_WATCH_MODIFIED_INDEX": str(result.node.modified_index),
        "ETCD_WATCH_KEY": result.node.key,
        "ETCD_WATCH_VALUE": result.node.value or "",
    }


# -- input and output ---------------------------------------------------------------


def _text(arg: str, what: str) -> str:
    # Python keeps undecodable argv bytes as lone surrogates, which cannot be sent.
    if _SURROGATES.search(arg):
        raise BadArgs(f"{what} is not valid UTF-8")
    return arg


def _key(args: argparse.Namespace) -> str:
    if args.key is None:
        raise BadArgs("key required")
    return clean_key(_text(args.key, "key"))


def _value(args: argparse.Namespace) -> str:
    if args.value is not None:
        return _text(args.value, "value")
    data = sys.stdin.buffer.read() if sys.stdin is not None else b""
    if not data:
        raise BadArgs("value required")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise BadArgs("value is not valid UTF-8") from exc


def _ttl(args: argparse.Namespace) -> int | None:
    return args.ttl if args.ttl > 0 else None


def _write(stream: TextIO, lines: Sequence[str]) -> None:
    """Lines as UTF-8 whatever the locale, flushed at once (watches print as they go)."""
    if not lines:
        return
    data = "".join(_SURROGATES.sub("\ufffd", line) + "\n" for line in lines).encode()
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


def _print(result: Result, output: str) -> None:
    out, err = render(result, output)
    _write(sys.stdout, out)
    _write(sys.stderr, err)


def _etcdctl_errors(command: Command) -> Command:
    """Report failures as etcdctl does; a closed stdout ends quietly."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, ctx: Context) -> int:
        try:
            return command(args, ctx)
        except BadArgs as exc:
            _write(sys.stderr, [f"Error:  {exc}"])
            return EXIT_BAD_ARGS
        except EtcdError as exc:
            _write(sys.stderr, [error_line(exc)])
            return EXIT_SERVER_ERROR
        except StoreUnavailable as exc:
            _write(sys.stderr, [f"Error:  cannot reach the store: {exc}"])
            return EXIT_BAD_CONNECTION
        except TimeoutError:
            _write(sys.stderr, [f"Error:  the store did not answer within {args.timeout}s"])
            return EXIT_BAD_CONNECTION
        except BrokenPipeError:
            # Whoever read our output has gone (`| head`): say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_SUCCESS

    return run


# -- commands -----------------------------------------------------------------------


@_etcdctl_errors
def cmd_get(args: argparse.Namespace, ctx: Context) -> int:
    key = _key(args)
    with ctx.client() as client:
        result = client.get(key, sorted=args.sort, quorum=args.quorum)
    if result.node.dir:
        _write(sys.stderr, [f"{display_key(result.node)}: is a directory"])
        return EXIT_BAD_ARGS
    _print(result, args.output)
    return EXIT_SUCCESS


@_etcdctl_errors
def cmd_ls(args: argparse.Namespace, ctx: Context) -> int:
    key = clean_key(_text(args.key or "/", "key"))
    with ctx.client() as client:
        result = client.get(key, recursive=args.recursive, sorted=args.sort, quorum=args.quorum)
    if args.output == "simple":
        _write(sys.stdout, listing(result, append_slash=args.p))
    else:
        _print(result, args.output)
    return EXIT_SUCCESS


@_etcdctl_errors
def cmd_set(args: argparse.Namespace, ctx: Context) -> int:
    key, value = _key(args), _value(args)
    prev_value = _text(args.swap_with_value, "previous value") or None
    with ctx.client() as client:
        result = client.set(
            key,
            value,
            ttl=_ttl(args),
            prev_value=prev_value,
            prev_index=args.swap_with_index or None,
        )
    _print(result, args.output)
    return EXIT_SUCCESS


@_etcdctl_errors
def cmd_mk(args: argparse.Namespace, ctx: Context) -> int:
    key, value = _key(args), _value(args)
    with ctx.client() as client:
        if args.in_order:
            result = client.append(key, value, ttl=_ttl(args))
        else:
            result = client.create(key, value, ttl=_ttl(args))
    _print(result, args.output)
    return EXIT_SUCCESS


@_etcdctl_errors
def cmd_update(args: argparse.Namespace, ctx: Context) -> int:
    key, value = _key(args), _value(args)
    with ctx.client() as client:
        result = client.update(key, value, ttl=_ttl(args))
    _print(result, args.output)
    return EXIT_SUCCESS


def _dir_command(prev_exist: bool | None) -> Command:
    @_etcdctl_errors
    def run(args: argparse.Namespace, ctx: Context) -> int:
        key = _key(args)
        with ctx.client() as client:
            result = client.set_dir(key, ttl=_ttl(args), prev_exist=prev_exist)
        if args.output != "simple":  # etcdctl prints nothing for a directory made
            _print(result, args.output)
        return EXIT_SUCCESS

    return run


cmd_mkdir = _dir_command(prev_exist=False)
cmd_setdir = _dir_command(prev_exist=None)
cmd_updatedir = _dir_command(prev_exist=True)


@_etcdctl_errors
def cmd_rm(args: argparse.Namespace, ctx: Context) -> int:
    key = _key(args)
    prev_value = _text(args.with_value, "previous value") or None
    with ctx.client() as client:
        result = client.delete(
            key,
            recursive=args.recursive,
            dir=args.dir,
            prev_value=prev_value,
            prev_index=args.with_index or None,
        )
    if not result.node.dir or args.output != "simple":
        _print(result, args.output)
    return EXIT_SUCCESS


@_etcdctl_errors
def cmd_rmdir(args: argparse.Namespace, ctx: Context) -> int:
    key = _key(args)
    with ctx.client() as client:
        result = client.delete(key, dir=True)
    if not result.node.dir or args.output != "simple":
        _print(result, args.output)
    return EXIT_SUCCESS


def _events(client: Client, key: str, after_index: int, recursive: bool) -> Iterator[Result]:
    """Every change of `key` after `after_index` (0: from now on), none skipped."""
    index = after_index + 1 if after_index > 0 else None
    empty = 0
    while True:
        result = client.watch(key, index=index, recursive=recursive, timeout=None)
        if not result.action:  # the server ended the long poll without an event
            empty += 1
            if empty >= MAX_EMPTY_WATCH_ANSWERS:
                raise StoreUnavailable(f"{client.endpoint}: watches end without an event")
            continue
        empty = 0
        index = result.node.modified_index + 1
        yield result


def _until_ctrl_c(command: Command) -> Command:
    """A watch ends quietly with status 0 on Ctrl-C, as etcdctl's does."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, ctx: Context) -> int:
        # Also when started from a shell that ignores SIGINT in background jobs:
        # Python would otherwise inherit the ignore.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return command(args, ctx)
        except KeyboardInterrupt:
            return EXIT_SUCCESS

    return run


@_until_ctrl_c
@_etcdctl_errors
def cmd_watch(args: argparse.Namespace, ctx: Context) -> int:
    key = _key(args)
    with ctx.client() as client:
        for result in _events(client, key, args.after_index, args.recursive):
            if result.node.dir:
                continue
            if args.recursive:
                _write(sys.stdout, [f"[{result.action}] {result.node.key}"])
            _print(result, args.output)
            if not args.forever:
                break
    return EXIT_SUCCESS


@_until_ctrl_c
@_etcdctl_errors
def cmd_exec_watch(args: argparse.Namespace, ctx: Context) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if args.key is None or not command:
        raise BadArgs("key and command to exec required")
    key = _key(args)
    running: list[subprocess.Popen[bytes]] = []
    with ctx.client() as client:
        for result in _events(client, key, args.after_index, args.recursive):
            if result.node.dir:
                _write(sys.stderr, [f"Ignored dir {result.node.key} change"])
                continue
            # As etcdctl: commands run concurrently, one per event, never awaited.
            running = [p for p in running if p.poll() is None]
            try:
                running.append(
                    subprocess.Popen(command, env=watch_environment(result, dict(os.environ)))
                )
            except OSError as exc:
                _write(sys.stderr, [f"Error:  cannot run {command[0]}: {exc.strerror}"])
                return EXIT_BAD_ARGS
    return EXIT_SUCCESS


# -- command line -------------------------------------------------------------------


def _with_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", nargs="?", help="the key")


def _with_value(parser: argparse.ArgumentParser) -> None:
    _with_key(parser)
    parser.add_argument("value", nargs="?", help="the value (default: standard input)")


def _with_ttl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ttl", type=int, default=0, help="time to live in seconds")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kv = subparsers.add_parser(
        "kv", help="keys and directories in the store (etcdctl v2's commands)"
    )
    add_output(kv, formats=None, default="simple", help="simple (default), extended or json")
    commands = kv.add_subparsers(dest="kv_command", metavar="COMMAND")
    commands.required = True

    def command(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, description=help)
        parser.set_defaults(func=func)
        return parser

    p = command("get", cmd_get, "retrieve the value of a key")
    _with_key(p)
    p.add_argument("--sort", action="store_true", help="returns result in sorted order")
    p.add_argument("-q", "--quorum", action="store_true", help="require quorum")

    p = command("ls", cmd_ls, "retrieve a directory")
    _with_key(p)
    p.add_argument("--sort", action="store_true", help="returns result in sorted order")
    p.add_argument("-r", "--recursive", action="store_true", help="list every level")
    p.add_argument("-p", action="store_true", help="append slash (/) to directories")
    p.add_argument("-q", "--quorum", action="store_true", help="require quorum")

    p = command("set", cmd_set, "set the value of a key")
    _with_value(p)
    _with_ttl(p)
    p.add_argument("--swap-with-value", default="", help="previous value")
    p.add_argument("--swap-with-index", type=int, default=0, help="previous index")

    p = command("mk", cmd_mk, "make a new key with a given value")
    _with_value(p)
    _with_ttl(p)
    p.add_argument(
        "--in-order", action="store_true", help="create in-order key under directory <key>"
    )

    p = command("update", cmd_update, "update an existing key with a given value")
    _with_value(p)
    _with_ttl(p)

    for name, func, help in (
        ("mkdir", cmd_mkdir, "make a new directory"),
        ("setdir", cmd_setdir, "create a new directory or update an existing directory TTL"),
        ("updatedir", cmd_updatedir, "update an existing directory"),
    ):
        p = command(name, func, help)
        _with_key(p)
        _with_ttl(p)

    p = command("rm", cmd_rm, "remove a key or a directory")
    _with_key(p)
    p.add_argument(
        "--dir", action="store_true", help="removes the key if it is an empty directory or a key"
    )
    p.add_argument("-r", "--recursive", action="store_true", help="removes the key and all below")
    p.add_argument("--with-value", default="", help="previous value")
    p.add_argument("--with-index", type=int, default=0, help="previous index")

    p = command(
        "rmdir", cmd_rmdir, "removes the key if it is an empty directory or a key-value pair"
    )
    _with_key(p)

    p = command("watch", cmd_watch, "watch a key for changes")
    _with_key(p)
    p.add_argument("-f", "--forever", action="store_true", help="watch until Ctrl-C")
    p.add_argument("--after-index", type=int, default=0, help="watch after the given index")
    p.add_argument("-r", "--recursive", action="store_true", help="watch the keys below too")

    p = command("exec-watch", cmd_exec_watch, "watch a key for changes and exec an executable")
    p.add_argument("--after-index", type=int, default=0, help="watch after the given index")
    p.add_argument("-r", "--recursive", action="store_true", help="watch the keys below too")
    _with_key(p)
    p.add_argument(
        "command", nargs=argparse.REMAINDER, help="[--] command and arguments to run per event"
    )
