"""`corral-updated`: the update daemon of one machine (see `corral.updated`)."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from corral import client, credentials, formats, log_flags, logs, metrics_http, units, version
from corral.completion import parse_args
from corral.duration import HELP as DURATION_HELP
from corral.duration import DurationError, parse_duration
from corral.formats import FormatError
from corral.machine_id import MachineIdError, machine_id
from corral.mirror.client import ClientConfig, MirrorClient
from corral.mirror.fetch import Fetcher, fetcher_for
from corral.mirror.pace import GRACE, MIN_RATE, Pace
from corral.systemd import Notifier
from corral.trust import TrustError
from corral.updated import metrics
from corral.updated.engine import FREE_MARGIN, Updater, UpdaterConfig
from corral.updated.health import HealthChecks
from corral.updated.heartbeat import Heartbeat
from corral.updated.policy import STRATEGIES
from corral.updated.slot_directory import DirectorySlots
from corral.updated.slot_grub import GrubSlots
from corral.updated.slots import SlotBackend, SlotError
from corral.updated.state_format import STATE_FORMAT
from corral.updated.windows import MaintenanceWindow, WindowError


class UsageError(Exception):
    """A bad option: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corral-updated", description="The update daemon of one machine: signed A/B updates."
    )
    version.add_argument(p)
    units.add_arguments(p, "corral-updated")
    p.add_argument("--endpoint", help="store URL(s) (default: $CORRAL_ENDPOINT or local)")
    p.add_argument("--machine-id", help="this machine's id (default: /etc/machine-id)")
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/corral-updated"),
                   help="where the updater keeps its state and downloads")
    m = p.add_argument_group("mirror")
    m.add_argument("--mirror", required=True, help="mirror URL, or a directory (a bundle)")
    m.add_argument("--product", default="corral", help="the product to follow on the mirror")
    m.add_argument("--channel", default="stable",
                   help="the mirror channel to follow, e.g. stable, beta")
    m.add_argument("--pin", action="append", default=[], metavar="FINGERPRINT",
                   help="a signing key trusted at first contact (repeat)")
    m.add_argument("--threshold", type=int, default=1, help="signatures needed")
    m.add_argument("--interval", default="1h", metavar="DURATION",
                   help=f"time between checks (default 1h; {DURATION_HELP})")
    m.add_argument("--jitter", type=float, default=0.1, help="fraction of the interval")
    m.add_argument("--min-rate", type=int, default=MIN_RATE, metavar="BYTES",
                   help="abandon a download slower than this average, in bytes/s (its"
                   " deadline follows from the payload's size and this rate)")
    m.add_argument("--rate-grace", default=f"{GRACE:g}s", metavar="DURATION",
                   help=f"the minimum rate counts only after this ({DURATION_HELP})")
    m.add_argument("--free-margin", type=int, default=FREE_MARGIN >> 20, metavar="MIB",
                   help="MiB that must stay free beyond the payload for a download to start")
    s = p.add_argument_group("slots")
    s.add_argument("--slots", choices=("directory", "grub"), default="directory",
                   help="how the A and B slots are kept: directories (--slot-dir) or grub"
                   " partitions (--grub-env, --grub-device)")
    s.add_argument("--slot-dir", type=Path, help="directory backend: its base directory")
    s.add_argument("--grub-env", type=Path, help="grub backend: the grubenv file")
    s.add_argument("--grub-device", action="append", default=[], metavar="SLOT=PATH",
                   help="grub backend: a=/dev/sda2 and b=/dev/sda3")
    s.add_argument("--initial-version", default="0.0.0",
                   help="version of slot a when no slot state exists yet")
    r = p.add_argument_group("reboots")
    r.add_argument("--strategy", choices=STRATEGIES, default="reboot",
                   help="reboot: when staged, in a window; lock: also holding the reboot"
                   " lock; off: never; external: when asked (corralctl update reboot)")
    r.add_argument("--reboot-command", default="systemctl reboot",
                   help="the command that reboots this machine")
    r.add_argument("--window", action="append", default=[],
                   help="maintenance window 'DAYS HH:MM LENGTH [ZONE]' (repeat); LENGTH is a"
                   f" {DURATION_HELP}")
    r.add_argument("--lock-group", help="take the group's semaphore instead of the global one")
    r.add_argument("--alive-ttl", default="5min", metavar="DURATION",
                   help="heartbeat TTL: a dead holder's lock frees after this (> reboot time;"
                   f" {DURATION_HELP})")
    r.add_argument("--no-drain", action="store_true", help="do not drain units first")
    r.add_argument("--canary", action=argparse.BooleanOptionalAction, default=True,
                   help="a canary (named with corralctl update canary, else the lowest"
                   " live machine id on the channel) proves a release (health gate) before"
                   " this machine installs it")  # fmt: skip
    r.add_argument("--drain-timeout", default="5min", metavar="DURATION",
                   help="how long to wait for units to move away before rebooting anyway"
                   f" ({DURATION_HELP})")
    h = p.add_argument_group("health gate after boot")
    h.add_argument("--health-command", action="append", default=[],
                   help="a shell command that must exit 0 (repeat)")
    h.add_argument("--health-unit", action="append", default=[],
                   help="a systemd unit that must be active (repeat)")
    h.add_argument("--health-url", action="append", default=[],
                   help="a URL that must answer 2xx (repeat)")
    h.add_argument("--health-timeout", default="60s", metavar="DURATION",
                   help="how long the checks may take to pass before the update is rolled"
                   f" back ({DURATION_HELP})")
    p.add_argument("--tick", default="1s", metavar="DURATION",
                   help=f"main loop period ({DURATION_HELP})")
    p.add_argument(
        "--metrics-listen", default="", metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off; port 0:"
        " any free port, logged)",
    )  # fmt: skip
    log_flags.add_arguments(p)
    credentials.add_arguments(p.add_argument_group("store credentials"))
    return p


def _seconds(text: str, option: str) -> float:
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if not 0 < value < math.inf:
        raise UsageError(f"{option} must be above 0")
    return value


def _machine_id(explicit: str | None) -> str:
    try:
        return machine_id(explicit)
    except MachineIdError as exc:
        raise UsageError(str(exc)) from None


def _pace(args: argparse.Namespace) -> Pace:
    if args.min_rate <= 0:
        raise UsageError("--min-rate must be above 0 bytes/s")
    return Pace(args.min_rate, _seconds(args.rate_grace, "--rate-grace"))


def _slots(args: argparse.Namespace) -> SlotBackend:
    if args.slots == "directory":
        if args.slot_dir is None:
            raise UsageError("--slots directory needs --slot-dir")
        return DirectorySlots(args.slot_dir, args.initial_version)
    if args.grub_env is None:
        raise UsageError("--slots grub needs --grub-env")
    devices = {}
    for spec in args.grub_device:
        name, sep, path = spec.partition("=")
        if not sep or name not in ("a", "b") or not path:
            raise UsageError(f"--grub-device {spec!r}: expected a=PATH or b=PATH")
        devices[name] = path
    try:
        return GrubSlots(args.grub_env, devices, initial_version=args.initial_version)
    except SlotError as exc:
        raise UsageError(str(exc)) from None


def configure(args: argparse.Namespace) -> tuple[UpdaterConfig, SlotBackend, ClientConfig, int]:
    if not args.pin:
        raise UsageError("pin at least one signing key with --pin FINGERPRINT")
    try:
        mirror_config = ClientConfig(args.product, args.channel, tuple(args.pin), args.threshold)
        windows = [MaintenanceWindow.parse(w) for w in args.window]
    except (ValueError, WindowError) as exc:
        raise UsageError(str(exc)) from None
    if not 0 <= args.jitter < 1:
        raise UsageError("--jitter must be between 0 and 1")
    if args.free_margin < 0:
        raise UsageError("--free-margin must be 0 or more")
    health = HealthChecks(tuple(args.health_command), tuple(args.health_unit),
                          tuple(args.health_url),
                          _seconds(args.health_timeout, "--health-timeout"))  # fmt: skip
    config = UpdaterConfig(
        machine_id=_machine_id(args.machine_id),
        state_dir=args.state_dir,
        strategy=args.strategy,
        reboot_command=args.reboot_command,
        interval=_seconds(args.interval, "--interval"),
        jitter=args.jitter,
        windows=windows,
        lock_group=args.lock_group,
        health=health,
        drain=not args.no_drain,
        canary=args.canary,
        drain_timeout=_seconds(args.drain_timeout, "--drain-timeout"),
        tick=_seconds(args.tick, "--tick"),
        free_margin=args.free_margin << 20,
    )
    ttl = math.ceil(_seconds(args.alive_ttl, "--alive-ttl"))
    return config, _slots(args), mirror_config, ttl


def _serve_metrics(listen: str) -> metrics_http.MetricsServer | None:
    """The --metrics-listen server, None when off; UsageError on a bad address, OSError
    when it cannot bind."""
    if not listen:
        return None
    try:
        return metrics_http.serve(metrics.REGISTRY, listen)
    except metrics_http.ListenError as exc:
        raise UsageError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    credentials.export(args)
    logs.configure("corral-updated", args.log_level, args.log_format)
    logging.getLogger("corral.updated").info("%s", version.describe("corral-updated"))
    try:
        config, slots, mirror_config, ttl = configure(args)
        fetcher = fetcher_for(args.mirror, _pace(args))
        exporter = _serve_metrics(args.metrics_listen)  # before anything is written
    except (UsageError, ValueError) as exc:
        print(f"corral-updated: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"corral-updated: cannot listen on {args.metrics_listen}:"
              f" {exc.strerror or exc}", file=sys.stderr)  # fmt: skip
        return 1
    try:
        return _run(args, config, slots, mirror_config, ttl, fetcher)
    finally:
        if exporter is not None:
            exporter.close()


def _run(args: argparse.Namespace, config: UpdaterConfig, slots: SlotBackend,
         mirror_config: ClientConfig, ttl: int, fetcher: Fetcher) -> int:  # fmt: skip
    try:  # before the mirror client or the engine writes into it
        formats.open_directory(config.state_dir, STATE_FORMAT)
    except FormatError as exc:
        print(f"corral-updated: {exc}", file=sys.stderr)
        return 1
    endpoint = client.default_endpoint(args.endpoint)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    mirror = MirrorClient(fetcher, mirror_config, config.state_dir / "trust.json")
    stop = threading.Event()
    notifier = Notifier()

    def shut_down(*_: object) -> None:
        notifier.stopping()
        stop.set()

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stack dump on demand
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    heartbeat = Heartbeat(endpoint, config.machine_id, ttl)
    try:  # an unreadable password file or bad certificate: one line, not a traceback
        store = client.Client(endpoint, timeout=10)
    except client.StoreError as exc:
        print(f"corral-updated: {exc}", file=sys.stderr)
        return 2
    try:
        heartbeat.start()
        updater = Updater(config, store, slots, mirror,
                          connect=lambda: client.Client(endpoint, timeout=10),
                          notifier=notifier)  # fmt: skip
        logging.getLogger("corral.updated").info(
            "machine %s on slot %s, strategy %s", config.machine_id,
            slots.load().booted, config.strategy)
        updater.run(stop.wait)
    except (client.StoreError, SlotError, TrustError, ValueError, OSError) as exc:
        print(f"corral-updated: {exc}", file=sys.stderr)
        return 1
    finally:
        heartbeat.stop()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
