"""corralctl: global options, then one sub-command group per domain.

Each group lives in its own module exposing `register(subparsers)`; a command is a
function `(args, ctx) -> int` stored as `func` in its parser's defaults. Errors from the
store are printed as etcdctl prints them and mapped to etcdctl's exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import NoReturn
from urllib.parse import urlsplit

from corral import version
from corral.client import (
    CA_FILE_ENV,
    CERT_FILE_ENV,
    DEFAULT_ENDPOINT,
    KEY_FILE_ENV,
    TIMEOUT_ENV,
    USERNAME_ENV,
    Client,
    EtcdError,
    StoreError,
    StoreUnavailable,
    read_password_file,
)
from corral.completion import parse_args
from corral.ctl.output import add_global_output, resolve
from corral.duration import HELP as DURATION_HELP
from corral.duration_arg import positive_duration
from corral.etcd_errors import Unauthorized

# etcdctl v2's exit codes (etcdctl/ctlv2/command/error.go)
EXIT_SUCCESS = 0
EXIT_BAD_ARGS = 1
EXIT_BAD_CONNECTION = 2
EXIT_BAD_AUTH = 3
EXIT_SERVER_ERROR = 4
EXIT_CLUSTER_NOT_HEALTHY = 5

# etcdctl's variable, honoured after ours so that a shell set up for etcdctl finds the store
ETCDCTL_ENDPOINTS_ENV = "ETCDCTL_ENDPOINTS"
SCHEMES = ("http", "https")


def choose_endpoint(flag: str | None, environ: Mapping[str, str]) -> str:
    """--endpoint(s), else $CORRAL_ENDPOINT, else $ETCDCTL_ENDPOINTS, else the default."""
    for value in (flag, environ.get("CORRAL_ENDPOINT"), environ.get(ETCDCTL_ENDPOINTS_ENV)):
        if value:
            return value
    return DEFAULT_ENDPOINT


def endpoint_problem(endpoints: str) -> str | None:
    """Why a comma-separated endpoint list cannot be used, or None. An address without a
    scheme (`127.0.0.1:2379`) would otherwise be read as a URL of scheme `127.0.0.1`."""
    for endpoint in (e.strip() for e in endpoints.split(",")):
        if not endpoint:
            continue
        parts = urlsplit(endpoint)
        if parts.scheme not in SCHEMES or not parts.netloc:
            return (
                f"endpoint {endpoint!r} is not a URL: write the scheme, e.g. "
                f"http://{endpoint.split('://')[-1]} (or https:// for TLS)"
            )
    return None


@dataclass
class Context:
    """What every command needs: a configured client and the output format."""

    args: argparse.Namespace

    def client(self, timeout: float | bool | None = False) -> Client:
        a = self.args
        # Without --password-file the client reads $CORRAL_PASSWORD_FILE, else
        # $CORRAL_PASSWORD, as every daemon and plugin does.
        password = read_password_file(a.password_file) if a.password_file else None
        return Client(
            a.endpoint,
            timeout=a.timeout if timeout is False else timeout,
            ca_file=a.ca_file,
            cert_file=a.cert_file,
            key_file=a.key_file,
            username=a.username,
            password=password,
        )


DEFAULT_TIMEOUT = 5.0


def _env_timeout() -> float:
    """$CORRAL_TIMEOUT (which the Ansible plugins read too), else the default; a value
    that is no positive duration is bad usage."""
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return positive_duration(text)
    except argparse.ArgumentTypeError as exc:
        sys.exit(f"corralctl: error: ${TIMEOUT_ENV}: {exc}")


class _Parser(argparse.ArgumentParser):
    """Bad usage exits 1 (etcdctl's status for bad arguments), not argparse's 2, which
    etcdctl reserves for a store that cannot be reached."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_ARGS, f"{self.prog}: error: {message}\n")


def _groups() -> list[ModuleType]:
    # Imported here so that one broken group cannot stop `corralctl --help` of others.
    from corral.ctl import auth, kv, lock, machine, role, unit, update, user

    return [kv, unit, machine, update, lock, auth, user, role]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="corralctl",
        description="Control a Corral cluster: keys, units, machines, updates, the reboot"
        " lock, users and roles.",
    )
    version.add_argument(parser)
    parser.add_argument(
        "--endpoint", "--endpoints",
        default=None,
        help="store URL(s), comma-separated, each with its scheme (default: $CORRAL_ENDPOINT,"
        f" else $ETCDCTL_ENDPOINTS, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_duration,
        default=_env_timeout(),
        metavar="DURATION",
        help=f"request timeout (default: ${TIMEOUT_ENV}, else {DEFAULT_TIMEOUT:g}s;"
        f" {DURATION_HELP})",
    )
    parser.add_argument(
        "--ca-file", help=f"verify the store's TLS certificate with this CA (else ${CA_FILE_ENV})"
    )
    parser.add_argument("--cert-file", help=f"client certificate for TLS (else ${CERT_FILE_ENV})")
    parser.add_argument("--key-file", help=f"client private key for TLS (else ${KEY_FILE_ENV})")
    parser.add_argument(
        "--username", default=os.environ.get(USERNAME_ENV),
        help=f"user name for the store's authentication (default: ${USERNAME_ENV})",
    )
    parser.add_argument(
        "--password-file",
        help="file holding the password (else $CORRAL_PASSWORD_FILE, else $CORRAL_PASSWORD)",
    )
    add_global_output(parser)
    sub = parser.add_subparsers(dest="group", metavar="GROUP")
    sub.required = True
    for group in _groups():
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    args.endpoint = choose_endpoint(args.endpoint, os.environ)
    problem = endpoint_problem(args.endpoint)
    if problem is None:
        problem = resolve(args, _command_name(parser, args))
    if problem is not None:
        parser.error(problem)
    ctx = Context(args)
    try:
        return int(args.func(args, ctx) or 0)
    except EtcdError as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return EXIT_BAD_AUTH if isinstance(exc, Unauthorized) else EXIT_SERVER_ERROR
    except StoreUnavailable as exc:
        print(f"Error:  cannot reach the store: {exc}", file=sys.stderr)
        return EXIT_BAD_CONNECTION
    except StoreError as exc:
        print(f"Error:  {exc}", file=sys.stderr)
        return EXIT_SERVER_ERROR
    except KeyboardInterrupt:
        return 130


def _command_name(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """`unit list` for `corralctl unit list ...`: the subcommand chosen at each level."""
    words: list[str] = []
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = vars(args).get(subs[0].dest) if subs else None
        if not isinstance(chosen, str) or chosen not in subs[0].choices:
            return " ".join(words)
        words.append(chosen)
        parser = subs[0].choices[chosen]


if __name__ == "__main__":
    sys.exit(main())
