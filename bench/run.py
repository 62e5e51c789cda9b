"""`make bench`: corral-store against real etcd 3.4, phase by phase, one table at the end.

    python -m bench.run [--smoke] [--only put,get,...] [--ours store|etcd] [--out PATH]
                        [--check] [--snapshot]

`--smoke` runs every phase for about a second with tiny sizes (the test suite does, so
this cannot rot). `--ours etcd` puts a second etcd where corral-store would be, to check
the harness itself: both sides should then come out near ratio 1.0. The table is also
written as JSON (bench/results/latest.json, or smoke.json for a smoke run); with
`--only`, rows of the phases not run are kept from the previous file, each with the
commit and load of the run that measured it. Targets come from bench/targets.py.

`--check` judges the rows this run measured: any target missed (a row with errors is
missed) or not judged is printed and the exit status is 3. `--snapshot` (a full run of
every phase only) also writes bench/results/<version>.json (corral.__version__, which
pyproject.toml reads), with the machine (CPU model, cores, memory, kernel) and the load.

Exit status: 0 if every phase ran (and, with --check, every target was met), 1 if a
phase failed, 2 on bad arguments, 3 if --check found a target missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import corral
from bench import machine
from bench.context import FULL, SMOKE, Bench, Scale
from bench.driver import ROOT
from bench.phases import PHASES
from bench.report import Report, Row, render

DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every phase briefly, tiny sizes")
    parser.add_argument(
        "--only", default="", help=f"comma-separated phases of: {', '.join(PHASES)}"
    )
    parser.add_argument(
        "--ours",
        choices=["store", "etcd"],
        default="store",
        help="what to measure against etcd (etcd: validate the harness)",
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per throughput phase")
    parser.add_argument("--restart-keys", type=int, help="keys held for the restart phase")
    parser.add_argument("--fleet-machines", type=int, help="simulated machines for fleet-scale")
    parser.add_argument("--fleet-units", type=int, help="units submitted in fleet-scale")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results file (default bench/results/latest.json, smoke.json with --smoke)",
    )
    parser.add_argument("--work-dir", type=Path, help="where data dirs and logs go (kept)")
    parser.add_argument(
        "--check", action="store_true", help="exit 3 if any target is missed, listing them"
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="also write bench/results/<version>.json (full run of every phase only)",
    )
    args = parser.parse_args(argv)
    chosen = [p for p in args.only.split(",") if p] or list(PHASES)
    unknown = [p for p in chosen if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    args.phases = chosen
    if args.out is None:  # a smoke run never replaces a full run's results
        args.out = DEFAULT_OUT.with_name("smoke.json") if args.smoke else DEFAULT_OUT
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be > 0")
    counts = {"--restart-keys": args.restart_keys, "--fleet-machines": args.fleet_machines,
              "--fleet-units": args.fleet_units}  # fmt: skip
    for flag, value in counts.items():
        if value is not None and value < 1:
            parser.error(f"{flag} must be >= 1")
    if args.snapshot and (args.smoke or args.only or args.ours != "store"):
        parser.error("--snapshot records a release: a full run of every phase, ours = store")
    sized = (args.seconds, args.restart_keys, args.fleet_machines, args.fleet_units)
    if args.snapshot and any(v is not None for v in sized):
        parser.error("--snapshot records a release at full sizes: no size flags")
    return args


def _scale(args: argparse.Namespace) -> Scale:
    scale = SMOKE if args.smoke else FULL
    if args.seconds is not None:
        scale = replace(scale, seconds=args.seconds)
    if args.restart_keys is not None:
        scale = replace(scale, restart_keys=args.restart_keys)
    if args.fleet_machines is not None:
        scale = replace(scale, fleet_machines=args.fleet_machines)
    if args.fleet_units is not None:
        scale = replace(scale, fleet_units=args.fleet_units)
    return scale


def _meta(args: argparse.Namespace) -> dict[str, object]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""

    return {
        "started": _now(),
        "smoke": args.smoke,
        "ours": "corral-store (embedded)" if args.ours == "store" else "etcd 3.4 (harness check)",
        "reference": next(iter(out("etcd", "--version").splitlines()), "etcd"),
        "commit": _commit(out),
        "version": version(),
        "machine": machine.describe(),
        "loadavg_before": os.getloadavg(),
        "python": platform.python_version(),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _commit(out: Callable[..., str]) -> str:
    """The commit measured; "+dirty" when the tree differs from it."""
    commit = out("git", "rev-parse", "--short", "HEAD")
    return (
        commit + "+dirty"
        if commit and out("git", "status", "--porcelain", "--", "daemons", "bench")
        else commit
    )


def version() -> str:
    """The project's version: `corral.__version__`, which pyproject.toml reads too."""
    return corral.__version__


def snapshot_path(results_dir: Path = DEFAULT_OUT.parent) -> Path:
    return results_dir / f"{version()}.json"


def check(report: Report) -> list[str]:
    """One line per row whose target is missed or could not be judged."""
    lines = []
    for r in report.missed():
        why = f"{r.errors} errors" if r.errors else ("no number" if r.met is None else "missed")
        lines.append(f"{r.phase}: {r.figure}: {why} (target {r.target}; ours {r.ours}, "
                     f"reference {r.reference})")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    scale = _scale(args)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="corral-bench-"))
    bench = Bench(scale, work_dir, args.ours)
    report = Report(meta=_meta(args))
    timings: dict[str, float] = {}
    failed = []
    try:
        for name in args.phases:
            # each row keeps the run and the load it was measured under
            run = {"commit": report.meta["commit"], "started": _now(), "loadavg": os.getloadavg()}
            started = time.perf_counter()
            print(f"phase {name} ...", end=" ", flush=True)
            try:
                rows = PHASES[name](bench)
            except Exception as exc:  # one failed phase must not cost the others' rows
                failed.append(name)
                rows = [Row(phase=name, figure=name, unit="-", ours=None, note=f"failed: {exc}")]
                traceback.print_exc(file=sys.stderr)
            timings[name] = time.perf_counter() - started
            print(f"{timings[name]:.1f} s", flush=True)
            report.add(*(r.stamped(run) for r in rows))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    report.meta["phase_seconds"] = timings
    report.meta["scale"] = asdict(scale)
    report.meta["loadavg_after"] = os.getloadavg()
    ours_name = "corral-store" if args.ours == "store" else "etcd#2"
    print()
    print(render(report, ours_name, "etcd"))
    print()
    print("phase seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print("loadgen cpu: the load generator's CPU time / wall time (100% = one core)")
    merged = report
    if args.only:
        try:
            merged = Report.load(args.out).merge(report)
        except ValueError as exc:
            print(f"warning: {exc}; writing this run's rows alone", file=sys.stderr)
    merged.save(args.out)
    print(f"results: {args.out}")
    if args.snapshot and not failed:
        report.save(snapshot_path())
        print(f"release snapshot: {snapshot_path()}")
    if failed:
        return 1
    if args.check:
        misses = check(report)
        for line in misses:
            print(f"MISSED {line}")
        if misses:
            return 3
        print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
