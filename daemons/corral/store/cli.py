"""`corral-store`: the command line of the store daemon."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from corral import log_flags, logs, units, version
from corral.completion import parse_args
from corral.duration import HELP as DURATION_HELP
from corral.duration_arg import positive_duration
from corral.store import limits
from corral.store.etcdv3.deadline import DEADLINE, MAX_DEADLINE
from corral.store.etcdv3.sizes import (
    MAX_BATCH,
    MAX_BATCH_CEILING,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_BYTES_CEILING,
)
from corral.store.etcdv3.staleness import MAX_STALENESS
from corral.store.server import Config, ConfigError, serve
from corral.store.tls import EtcdClientTLS, ServerTLS

DEFAULT_LISTEN = "http://127.0.0.1:2379,http://127.0.0.1:4001"
DEFAULT_DATA_DIR = "default.corral"


def _urls(text: str) -> list[str]:
    return [u.strip() for u in text.split(",") if u.strip()]


def _deadline(text: str) -> float:
    value = positive_duration(text)
    if value > MAX_DEADLINE:
        raise argparse.ArgumentTypeError(f"duration {text!r}: at most {MAX_DEADLINE:g}s")
    return value


def _request_bytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes") from None
    if not 0 < value <= MAX_REQUEST_BYTES_CEILING:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected 1 to {MAX_REQUEST_BYTES_CEILING} bytes (etcd's range)"
        )
    return value


def _batch(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of writes") from None
    if not 0 < value <= MAX_BATCH_CEILING:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 to {MAX_BATCH_CEILING} writes")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corral-store",
        description="etcd v2 keys API on a durable embedded store, or over an etcd v3 cluster",
    )
    version.add_argument(p)
    units.add_arguments(p, "corral-store")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="default: ./default.corral")
    p.add_argument(
        "--listen-client-urls", default=DEFAULT_LISTEN, help=f"default: {DEFAULT_LISTEN}"
    )
    p.add_argument(
        "--listen-metrics-urls", default="", metavar="URL[,URL]",
        help="plain http:// listeners answering only /metrics and /health, as etcd's (for"
        " scrapers without a client certificate; default: none, /metrics is on the client"
        " URLs)",
    )  # fmt: skip
    p.add_argument(
        "--backend",
        choices=("embedded", "etcd"),
        default="embedded",
        help="embedded: keep the data in --data-dir; etcd: serve the v2 API over"
        " an etcd v3 cluster (--etcd-endpoints)",
    )
    p.add_argument(
        "--etcd-endpoints",
        default="",
        help="for --backend etcd: every member's client URL, comma-separated",
    )
    p.add_argument(
        "--etcd-max-staleness",
        type=positive_duration,
        default=MAX_STALENESS,
        metavar="DURATION",
        help="for --backend etcd: refuse reads (error 300) once this long without news"
        f" from etcd (default: {MAX_STALENESS:g}s; {DURATION_HELP})",
    )
    p.add_argument(
        "--etcd-request-timeout",
        type=_deadline,
        default=DEADLINE,
        metavar="DURATION",
        help="for --backend etcd: one call to etcd may take this long over all members"
        f" (retries included), then the client gets error 300 (default: {DEADLINE:g}s,"
        f" at most {MAX_DEADLINE:g}s; {DURATION_HELP})",
    )
    p.add_argument(
        "--etcd-max-request-bytes",
        type=_request_bytes,
        default=MAX_REQUEST_BYTES,
        metavar="BYTES",
        help="for --backend etcd: etcd's --max-request-bytes; a write whose keys and"
        " values alone are longer is refused with error 300 without sending it"
        f" (default: {MAX_REQUEST_BYTES}, what the etcd role sets)",
    )
    p.add_argument(
        "--etcd-max-batch",
        type=_batch,
        default=MAX_BATCH,
        metavar="WRITES",
        help="for --backend etcd: writes sent together in one etcd transaction, at most"
        f" etcd's --max-txn-ops (default: {MAX_BATCH})",
    )
    p.add_argument("--name", default="default", help="member name shown in /v2/members")
    p.add_argument("--cert-file", default="", help="TLS certificate for https:// listeners")
    p.add_argument("--key-file", default="", help="TLS private key for --cert-file")
    p.add_argument(
        "--trusted-ca-file", default="", help="CA that signs client certificates (required)"
    )
    p.add_argument(
        "--client-cert-auth", action="store_true", help="require client certificates (etcd's)"
    )
    p.add_argument("--etcd-ca-file", default="", help="CA verifying https:// etcd members")
    p.add_argument("--etcd-cert-file", default="", help="client certificate towards etcd")
    p.add_argument("--etcd-key-file", default="", help="client key for --etcd-cert-file")
    p.add_argument(
        "--max-request-line-bytes", type=int, default=limits.URL_BYTES,
        help="longer request lines get 414 (Go's limit)",
    )  # fmt: skip
    p.add_argument(
        "--max-header-bytes", type=int, default=limits.HEADER_BYTES,
        help="more header bytes get 431 (etcd's limit)",
    )  # fmt: skip
    p.add_argument(
        "--max-request-bytes", type=int, default=limits.BODY_BYTES,
        help="a longer body is refused with error 210 (etcd's limit)",
    )  # fmt: skip
    p.add_argument(
        "--max-key-bytes", type=int, default=limits.KEY_BYTES,
        help="a PUT or POST of a longer key is refused with error 209",
    )  # fmt: skip
    p.add_argument(
        "--max-key-depth", type=int, default=limits.KEY_DEPTH,
        help="a PUT or POST of a key with more levels is refused with error 209",
    )  # fmt: skip
    p.add_argument(
        "--max-connections", type=int, default=limits.CONNECTIONS,
        help="more connections at once get 503 (kept below the open file limit)",
    )  # fmt: skip
    log_flags.add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(parser(), argv)
    logs.configure("corral-store", args.log_level, args.log_format)
    logging.getLogger("corral.store").info("%s", version.describe("corral-store"))
    urls = _urls(args.listen_client_urls)
    if not urls:
        print("corral-store: --listen-client-urls is empty", file=sys.stderr)
        return 2
    config = Config(
        data_dir=Path(args.data_dir),
        listen_urls=urls,
        metrics_urls=_urls(args.listen_metrics_urls),
        backend=args.backend,
        etcd_endpoints=_urls(args.etcd_endpoints),
        etcd_max_staleness=args.etcd_max_staleness,
        etcd_request_timeout=args.etcd_request_timeout,
        etcd_max_request_bytes=args.etcd_max_request_bytes,
        etcd_max_batch=args.etcd_max_batch,
        name=args.name,
        tls=ServerTLS(args.cert_file, args.key_file, args.trusted_ca_file, args.client_cert_auth),
        etcd_tls=EtcdClientTLS(args.etcd_ca_file, args.etcd_cert_file, args.etcd_key_file),
        limits=limits.Limits(
            url_bytes=args.max_request_line_bytes,
            header_bytes=args.max_header_bytes,
            body_bytes=args.max_request_bytes,
            key_bytes=args.max_key_bytes,
            key_depth=args.max_key_depth,
            connections=args.max_connections,
        ),
    )
    try:
        import uvloop
    except ImportError:  # uvloop is optional: plain asyncio works, only slower
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        return runner(serve(config))
    except ConfigError as exc:
        print(f"corral-store: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
