"""corral-mirror's command line: argument parsing and error reporting only.

Exit codes: 0 success; 1 a mirror or usage error (message says what to do); 2 bad
arguments (argparse); 3 data refused by the trust library (the rejection's class is
named); 4 a download failed (run again: transfers resume).

Each command imports what it needs when it runs: `sync` is timed against curl
(`make bench`), and the other commands' modules would lengthen its start-up. At exit
`gc.freeze` spares the interpreter's last collections over every loaded module's
objects (docs/performance.md); files are fsynced and closed before, so nothing depends
on them.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from corral import formats, log_flags, units, version
from corral.completion import parse_args
from corral.duration import HELP as DURATION_HELP
from corral.duration_arg import positive_duration
from corral.formats import FormatError
from corral.mirror.bundle_limits import MAX_BUNDLE_BYTES
from corral.mirror.gpg import GpgError
from corral.mirror.keys import ROOT_LIFETIME
from corral.mirror.layout import Layout, MirrorError
from corral.mirror.mirror_format import MIRROR_FORMAT
from corral.mirror.pace import DOCUMENT_DEADLINE, GRACE, MIN_RATE
from corral.mirror.serve_limits import (
    HEADER_TIMEOUT,
    KEEPALIVE,
    MAX_CONNECTIONS,
    MIN_SEND_RATE,
    SEND_GRACE,
)
from corral.trust import DownloadError, RepositoryError, format_time

if TYPE_CHECKING:
    from corral.mirror.sync import SyncResult


def _duration(text: str) -> timedelta:
    """A positive, finite duration (corral.duration's grammar)."""
    return timedelta(seconds=positive_duration(text))


_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


def _bytes(text: str, what: str) -> int:
    """16384, 16k, 1m, 64g: a positive number of bytes, binary multiples."""
    number, unit = (text[:-1], text[-1].lower()) if text[-1:].isalpha() else (text, "")
    if not number.isdigit() or int(number) == 0 or unit not in _SHIFTS:
        raise argparse.ArgumentTypeError(f"bad {what} {text!r}: e.g. 16k, 1m, 64g")
    return int(number) << _SHIFTS[unit]


def _rate(text: str) -> int:
    return _bytes(text, "rate (bytes per second)")


def _size(text: str) -> int:
    return _bytes(text, "size")


def _pace(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-rate", type=_rate, default=f"{MIN_RATE >> 10}k", metavar="BYTES",
                   help="abandon a transfer slower than this average, in bytes/s; each"
                   " payload's deadline follows from its size and this rate")
    p.add_argument("--rate-grace", type=_duration, default=f"{GRACE:.0f}s",
                   metavar="DURATION",
                   help=f"the minimum rate counts only after this ({DURATION_HELP})")
    p.add_argument("--document-deadline", type=_duration, metavar="DURATION",
                   default=f"{DOCUMENT_DEADLINE:.0f}s",
                   help="a document (root, release) must arrive within this, headers"
                   f" included ({DURATION_HELP})")


def _signing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", action="append", default=[], metavar="FPR",
                   help="fingerprint of a signing key (repeat for several signers)")


def _root_expiry(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expires", type=_duration, default=ROOT_LIFETIME, metavar="DURATION",
                   help="the root of trust expires after this (default 365d); clients"
                   f" refuse an expired root: renew with keys DIR renew ({DURATION_HELP})")


def _pins(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", action="append", default=[], metavar="FPR",
                   help="pinned upstream key fingerprint (needed when DIR is not a mirror yet)")
    p.add_argument("--threshold", type=int, help="signatures needed among the pinned keys")
    p.add_argument("--skew", type=_duration, default="300s", metavar="DURATION",
                   help=f"clock-skew allowance for expiry (default 300s; {DURATION_HELP})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral-mirror",
        description="Publish, sign, sync, export and serve a mirror of signed releases.",
        epilog="exit status: 0 ok, 1 error, 2 bad arguments, 3 data refused by the trust"
        " checks, 4 download failed (run again: transfers resume)",
    )
    version.add_argument(parser)
    parser.add_argument("--gnupghome", help="the operator's keyring (default $GNUPGHOME)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create a mirror with its root of trust")
    p.add_argument("dir", type=Path, help="the mirror's directory, created")
    _signing(p)
    p.add_argument("--threshold", type=int, default=1,
                   help="signatures a document needs among the trusted keys")
    p.add_argument("--product", default="corral", help="product name (default corral)")
    _root_expiry(p)

    p = sub.add_parser("publish", help="add a payload as a channel's new release")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("payload", type=Path, help="the file to publish (the slot image)")
    p.add_argument("--channel", required=True, help="the channel, e.g. stable, beta")
    p.add_argument("--version", required=True, help="the release's version, e.g. 1.4.0")
    _signing(p)
    p.add_argument("--expires", type=_duration, default="30d", metavar="DURATION",
                   help="the release expires after this (default 30d): resign before"
                   f" ({DURATION_HELP})")
    p.add_argument("--min-version", help="oldest installed version that may update to this")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="allow a version lower than the channel's current one")

    p = sub.add_parser("promote", help="offer one channel's release on another, re-signed")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("--from", dest="source", required=True, help="the channel to take from")
    p.add_argument("--to", dest="target", required=True, help="the channel to offer it on")
    _signing(p)
    p.add_argument("--expires", type=_duration, default="30d", metavar="DURATION",
                   help="the release expires after this (default 30d): resign before"
                   f" ({DURATION_HELP})")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="allow a version lower than the target channel's current one")

    p = sub.add_parser("resign", help="renew a channel's expiry without changing content")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("--channel", required=True, help="the channel to renew")
    _signing(p)
    p.add_argument("--expires", type=_duration, default="30d", metavar="DURATION",
                   help=f"the release expires after this (default 30d; {DURATION_HELP})")

    p = sub.add_parser("keys", help="list or change the trusted signing keys")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    ksub = p.add_subparsers(dest="action", required=True)
    ksub.add_parser("list", help="the trusted keys and the threshold")
    for action in ("add", "remove"):
        k = ksub.add_parser(action, help=f"{action} a trusted signing key")
        k.add_argument("fingerprint", help="the key's fingerprint")
        _signing(k)
        k.add_argument("--threshold", type=int, help="new threshold (default: unchanged)")
        _root_expiry(k)
    k = ksub.add_parser("threshold", help="change how many signatures a document needs")
    k.add_argument("value", type=int, help="the new threshold")
    _signing(k)
    _root_expiry(k)
    k = ksub.add_parser("renew", help="sign the same keys again with a new expiry")
    _signing(k)
    _root_expiry(k)
    k.set_defaults(threshold=None)  # unchanged

    p = sub.add_parser("sync", help="pull another mirror's releases, verified")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("upstream", help="URL (http://...) or directory of the upstream mirror")
    p.add_argument("--channel", action="append", help="only this channel (repeatable)")
    _pins(p)
    _pace(p)

    p = sub.add_parser("export", help="write channels and payloads to a tar bundle")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("bundle", type=Path, help="the tar file to write")
    p.add_argument("--channel", action="append", help="only this channel (repeatable)")

    p = sub.add_parser("import", help="verify a tar bundle and add its releases")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("bundle", type=Path, help="the tar file to read")
    _pins(p)
    p.add_argument("--max-bytes", type=_size, default=f"{MAX_BUNDLE_BYTES >> 30}g",
                   metavar="SIZE", help="refuse a bundle that holds more, decompressed")

    p = sub.add_parser("serve", help="serve the mirror over HTTP")
    units.add_arguments(p, "corral-mirror")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (port 0: any)")
    p.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, metavar="N",
                   help="connections open at once; more are closed when accepted")
    p.add_argument("--keepalive-timeout", type=_duration, default=f"{KEEPALIVE}s",
                   metavar="DURATION",
                   help=f"close a connection idle this long ({DURATION_HELP})")
    p.add_argument("--header-timeout", type=_duration, default=f"{HEADER_TIMEOUT}s",
                   metavar="DURATION", help="answer 408 and close when a request's head"
                   f" (request line and header fields) takes longer to arrive ({DURATION_HELP})")
    p.add_argument("--min-send-rate", type=int, default=MIN_SEND_RATE, metavar="BYTES_PER_S",
                   help="drop a connection whose client takes a file slower than this on"
                   " average, after --send-grace")
    p.add_argument("--send-grace", type=_duration, default=f"{SEND_GRACE}s", metavar="DURATION",
                   help=f"time a file's transfer may take on top of its size at --min-send-rate"
                   f" ({DURATION_HELP})")
    log_flags.add_arguments(p)

    p = sub.add_parser("prune", help="delete all but the newest releases per channel")
    p.add_argument("dir", type=Path, help="the mirror's directory")
    p.add_argument("--keep", type=int, required=True,
                   help="how many of the newest releases each channel keeps")
    return parser


def _report_sync(result: SyncResult) -> None:
    for channel in result.updated:
        print(f"{channel}: updated")
    for channel in result.unchanged:
        print(f"{channel}: unchanged")
    print(f"root version {result.root_version}")


def _sync(layout: Layout, args: argparse.Namespace, now: datetime) -> int:
    from corral.mirror.fetch import fetcher_for
    from corral.mirror.pace import Pace
    from corral.mirror.progress import progress_for
    from corral.mirror.sync import sync

    pace = Pace(args.min_rate, args.rate_grace.total_seconds(),
                args.document_deadline.total_seconds())
    args.dir.mkdir(parents=True, exist_ok=True)
    with _writing(layout):
        _report_sync(sync(
            layout, fetcher_for(args.upstream, pace), now=now, pinned=args.key,
            threshold=args.threshold, channels=args.channel, skew=args.skew,
            progress=progress_for,
        ))
    return 0


@contextmanager
def _writing(layout: Layout) -> Iterator[None]:
    """The mirror locked for one writer and brought to the current format."""
    with layout.lock():
        formats.open_directory(layout.base, MIRROR_FORMAT)
        yield


def run(args: argparse.Namespace) -> int:
    layout = Layout(args.dir)
    now = datetime.now(UTC)
    reads = args.command in ("serve", "export") or (
        args.command == "keys" and args.action == "list"
    )
    if reads:
        formats.check(args.dir, MIRROR_FORMAT)  # readers write nothing, not even a marker
    else:
        formats.refuse_newer(args.dir, MIRROR_FORMAT)  # before the lock file is touched
    if args.command == "serve":
        from corral.mirror import serve

        if args.max_connections < 1:
            raise MirrorError("--max-connections must be at least 1")
        if args.min_send_rate < 1:
            raise MirrorError("--min-send-rate must be at least 1 byte a second")
        import logging  # only serve logs; the other commands' start-up is timed

        from corral import logs

        logs.configure("corral-mirror", args.log_level, args.log_format)
        logging.getLogger("corral.mirror").info("%s", version.describe("corral-mirror"))
        serve.serve(args.dir, args.listen, args.max_connections,
                    args.keepalive_timeout.total_seconds(),
                    args.header_timeout.total_seconds(), args.min_send_rate,
                    args.send_grace.total_seconds())
        return 0
    if args.command == "sync":
        return _sync(layout, args, now)
    from corral.mirror import bundle, keys
    from corral.mirror.progress import progress_for

    if args.command == "keys" and args.action == "list":
        print("\n".join(keys.describe_keys(layout.root())))
        return 0
    if args.command == "export":
        names = bundle.export_bundle(layout, args.bundle, args.channel, progress_for)
        print(f"exported {', '.join(names) or 'no channels'} to {args.bundle}")
        return 0
    if args.command not in ("init", "import"):
        layout.require()
    args.dir.mkdir(parents=True, exist_ok=True)
    return _write(layout, args, now)


def _write(layout: Layout, args: argparse.Namespace, now: datetime) -> int:
    """The commands that change the mirror, run under its lock."""
    from corral.mirror import bundle_import, keys, prune, publish
    from corral.mirror.gpg import Signer
    from corral.mirror.progress import progress_for

    with _writing(layout):
        if args.command == "import":
            _report_sync(bundle_import.import_bundle(
                layout, args.bundle, now=now, pinned=args.key, threshold=args.threshold,
                skew=args.skew, progress=progress_for, max_bytes=args.max_bytes,
            ))
            return 0
        if args.command == "prune":
            result = prune.prune(layout, args.keep)
            for name in [*result.history_removed, *result.payloads_removed]:
                print(f"removed {name}")
            return 0
        signer = Signer(args.gnupghome)
        if args.command == "init":
            publish.init(layout, signer, args.key, args.threshold, args.product,
                         expires=args.expires, now=now)
            print(f"mirror {args.dir} created: {len(args.key)} key(s), threshold {args.threshold}")
            return 0
        if args.command == "keys":
            change = keys.change_keys(
                layout, signer, args.key,
                add=[args.fingerprint] if args.action == "add" else [],
                remove=[args.fingerprint] if args.action == "remove" else [],
                threshold=args.value if args.action == "threshold" else args.threshold,
                expires=args.expires, now=now,
            )
            print(f"root version {change.root.version}: threshold {change.root.threshold}"
                  f" of {len(change.root.keys)} keys, expires {format_time(change.root.expires)}")
            for channel in change.stale_channels:
                print(f"channel {channel} no longer meets the threshold:"
                      f" run `corral-mirror resign {args.dir} --channel {channel}`")
            return 0
        if args.command == "publish":
            release = publish.publish(
                layout, signer, args.key, args.payload, channel=args.channel,
                version=args.version, expires=args.expires, now=now,
                min_version=args.min_version, allow_downgrade=args.allow_downgrade,
            )
        elif args.command == "promote":
            release = publish.promote(
                layout, signer, args.key, source=args.source, target=args.target,
                expires=args.expires, now=now, allow_downgrade=args.allow_downgrade,
            )
        else:
            release = publish.resign(
                layout, signer, args.key, channel=args.channel, expires=args.expires, now=now
            )
        print(f"{release.channel}: {release.version} serial {release.serial}"
              f" ({release.release_id})")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    atexit.unregister(gc.freeze)  # once, however often main runs in one process (tests)
    atexit.register(gc.freeze)
    args = parse_args(build_parser(), argv)
    try:
        return run(args)
    except RepositoryError as e:
        print(f"corral-mirror: rejected ({type(e).__name__}): {e}", file=sys.stderr)
        return 3
    except DownloadError as e:
        print(f"corral-mirror: download failed: {e}", file=sys.stderr)
        return 4
    except (MirrorError, GpgError, FormatError) as e:
        print(f"corral-mirror: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"corral-mirror: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
