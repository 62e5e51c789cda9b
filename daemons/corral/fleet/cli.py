"""`corral-fleet`: the agent (and, unless --no-engine, an engine candidate) of one machine."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import math
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from corral import client, credentials, formats, log_flags, logs, metrics_http, units, version
from corral.completion import parse_args
from corral.duration import HELP as DURATION_HELP
from corral.duration import DurationError, parse_duration
from corral.fleet import metrics
from corral.fleet.agent import Agent
from corral.fleet.executor import Executor
from corral.fleet.journal_server import serve_journal
from corral.fleet.metadata import MetadataError, parse_metadata
from corral.fleet.process_executor import ProcessExecutor
from corral.fleet.records import MAX_UNIT_SIZE_CEILING, MachineRecord
from corral.fleet.spec import MAX_UNIT_BYTES
from corral.fleet.state_format import STATE_FORMAT
from corral.formats import FormatError
from corral.machine_id import MachineIdError, machine_id
from corral.systemd import Notifier

log = logging.getLogger("corral.fleet")

VERSION = "0.1.0"
# seconds: a dead machine's units wait this long to move; a longer TTL is a typo
MAX_AGENT_TTL = 10**6 - 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corral-fleet",
        description="The agent (and, unless --no-engine, an engine candidate) of one machine.",
    )
    version.add_argument(p)
    units.add_arguments(p, "corral-fleet")
    p.add_argument("--endpoint", help="store URL(s) (default: $CORRAL_ENDPOINT or local)")
    p.add_argument("--machine-id", help="this machine's id (default: /etc/machine-id)")
    p.add_argument("--metadata", default="", help="KEY=VALUE,... for MachineMetadata")
    p.add_argument("--executor", choices=("systemd", "process"), default="systemd",
                   help="systemd: run units as systemd units; process: as child processes"
                   " (containers and tests, without systemd)")
    p.add_argument("--agent-ttl", default="10s", metavar="DURATION",
                   help=f"machine record TTL, at least 1s (default 10s; {DURATION_HELP})")
    p.add_argument("--state-dir", default="/var/lib/corral-fleet", type=Path,
                   help="where the agent keeps its state between restarts")
    p.add_argument("--engine", action=argparse.BooleanOptionalAction, default=True,
                   help="stand as a candidate for the cluster's engine, which places units"
                   " (--no-engine: an agent only)")
    p.add_argument("--public-ip", help="address shown for this machine (default: resolved)")
    p.add_argument(
        "--journal-listen",
        default="127.0.0.1:0",
        help="HOST:PORT of the log endpoint corralctl reads (port 0: any free port)",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=3,
        help="failed runs on a healthy machine before the engine moves a unit",
    )
    p.add_argument(
        "--max-unit-size",
        type=int,
        default=MAX_UNIT_BYTES,
        metavar="BYTES",
        help="unit files larger than this are refused (every agent keeps every unit file)",
    )
    p.add_argument(
        "--metrics-listen",
        default="",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off; port 0:"
        " any free port, logged)",
    )
    p.add_argument("--unit-dir", default="/run/systemd/system", help="systemd executor only")
    log_flags.add_arguments(p)
    credentials.add_arguments(p.add_argument_group("store credentials"))
    return p


def _machine_id(explicit: str | None) -> str:
    try:
        return machine_id(explicit)
    except MachineIdError as exc:
        raise SystemExit(f"corral-fleet: {exc}") from None


def _ip(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _serve_metrics(listen: str) -> metrics_http.MetricsServer | None:
    """The --metrics-listen server, None when off; exits 2 on a bad address, 1 when it
    cannot bind, with one line."""
    if not listen:
        return None
    try:
        return metrics_http.serve(metrics.REGISTRY, listen)
    except metrics_http.ListenError as exc:
        print(f"corral-fleet: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"corral-fleet: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    credentials.export(args)
    logs.configure("corral-fleet", args.log_level, args.log_format)
    log.info("%s", version.describe("corral-fleet"))
    try:
        ttl = math.ceil(parse_duration(args.agent_ttl))
    except DurationError as exc:
        print(f"corral-fleet: --agent-ttl: {exc}", file=sys.stderr)
        return 2
    try:
        metadata = parse_metadata(args.metadata)
    except MetadataError as exc:
        print(f"corral-fleet: {exc}", file=sys.stderr)
        return 2
    if not 1 <= ttl <= MAX_AGENT_TTL:
        print(f"corral-fleet: --agent-ttl must be 1s to {MAX_AGENT_TTL}s", file=sys.stderr)
        return 2
    if not 1 <= args.max_unit_size <= MAX_UNIT_SIZE_CEILING:
        print(
            f"corral-fleet: --max-unit-size must be 1 to {MAX_UNIT_SIZE_CEILING} "
            "(a unit record must fit in the store's largest record)",
            file=sys.stderr,
        )
        return 2
    if args.max_failures < 1:
        print("corral-fleet: --max-failures must be at least 1", file=sys.stderr)
        return 2
    host, _, port = args.journal_listen.rpartition(":")
    if not host or not port.isdigit():
        print("corral-fleet: --journal-listen must be HOST:PORT", file=sys.stderr)
        return 2
    exporter = _serve_metrics(args.metrics_listen)  # before anything is written
    try:  # before an executor or the agent writes into it
        formats.open_directory(args.state_dir, STATE_FORMAT)
    except FormatError as exc:
        print(f"corral-fleet: {exc}", file=sys.stderr)
        return 1
    executor: Executor
    if args.executor == "process":
        executor = ProcessExecutor(args.state_dir)
    else:
        from corral.fleet.systemd_executor import SystemdExecutor

        executor = SystemdExecutor(Path(args.unit_dir), args.state_dir)
    server = serve_journal(executor, host, int(port))
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    record = MachineRecord(
        id=_machine_id(args.machine_id),
        hostname=socket.gethostname(),
        ip=_ip(args.public_ip),
        metadata=metadata,
        version=VERSION,
        journal=f"http://{bound_host}:{bound_port}",
    )
    agent = Agent(
        client.default_endpoint(args.endpoint),
        record,
        executor,
        args.state_dir,
        ttl,
        engine=args.engine,
        max_failures=args.max_failures,
        max_unit_bytes=args.max_unit_size,
        notifier=(notifier := Notifier()),
    )

    def shut_down(*_: object) -> None:
        notifier.stopping()
        agent.stop.set()

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stack dump on demand
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    try:
        agent.run()
    except client.StoreError as exc:
        print(f"corral-fleet: {exc}", file=sys.stderr)
        return 1
    finally:
        server.shutdown()
        if exporter is not None:
            exporter.close()
    return 0
