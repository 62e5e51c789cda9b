"""`make demo` after the walk-through: the offline bundle, a three-host cluster, keys
read across hosts by Ansible, a unit moving off a dead host, and a signed release
rolled through the cluster one reboot at a time. The hosts are systemd-nspawn
instances (instances.py, nspawn_chapters.py) when nspawn_check finds nothing against
it, else processes on 127.0.0.1 (cluster.py, chapters.py); the story is the same.

    python scripts/demo/story.py [--mode auto|process|nspawn] [--work DIR] [--keep]
                                 [--no-bundle | --bundle DIR]

Exit status 0 when every chapter did what it shows, 1 with one clear line otherwise,
130 on Ctrl-C. Invariant: whatever the outcome, every process and instance it
started is stopped, its network namespaces deleted and its temporary directory
removed (unless --keep).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chapters
import nspawn_chapters
from cluster import stop_gpg_agent
from instances import Instances
from nspawn_check import nspawn_blockers
from tutorial import DemoError, Processes, chapter, say

REPO = Path(__file__).resolve().parents[2]
TITLES = ("Keys across hosts, read by Ansible with lookup('corral.cloud.kv')",
          f"The article's {chapters.UNIT} survives its host",
          "A signed release, rolled through the cluster one reboot at a time")  # fmt: skip


def _ansible_env(work: Path, endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    collections = work / "collections" / "ansible_collections" / "corral"
    if not collections.exists():
        collections.mkdir(parents=True)
        (collections / "cloud").symlink_to(REPO)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(work / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(work / "no-ansible.cfg"),
               ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")  # fmt: skip
    if endpoint:
        env["CORRAL_ENDPOINT"] = endpoint
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="The whole Corral story on one machine: the walk-through, the offline "
        "bundle, three hosts, keys across hosts, a unit moving, a rolling update.")
    p.add_argument("--mode", choices=("auto", "process", "nspawn"), default="auto",
                   help="where the three hosts run (auto: nspawn instances when possible)")
    p.add_argument("--work", type=Path, help="working directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    bundles = p.add_mutually_exclusive_group()
    bundles.add_argument("--no-bundle", action="store_true",
                         help="skip the bundle (hosts then run as processes)")
    bundles.add_argument("--bundle", type=Path, metavar="DIR",
                         help="use this bundle built earlier by playbooks/bundle.yml")
    p.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    blockers = ["--mode process asks for processes"] if args.mode == "process" else []
    if args.mode != "process":
        blockers = nspawn_blockers(REPO)
        if args.no_bundle:
            blockers.append("--no-bundle: the instances install from the bundle")
    if blockers and args.mode == "nspawn":
        print("demo: nspawn instances cannot run here: " + "; ".join(blockers), file=sys.stderr)
        return 1
    if args.bundle and not (args.bundle / "manifest.json").is_file():
        print(f"demo: --bundle {args.bundle}: no manifest.json, not a bundle", file=sys.stderr)
        return 2
    if args.parse_only:
        return 0
    # Ctrl-C and SIGTERM both end the story through the clean-up below (SIGINT is
    # restored in case the shell that started us ignored it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="corral-demo.", dir=args.work))
    # gpg-agent's socket path must stay short (108 bytes): GNUPGHOME lives in /tmp
    gnupghome = Path(tempfile.mkdtemp(prefix="corral-gpg."))
    procs = Processes()
    instances = None if blockers else Instances(work, chapters.HOSTS, _ansible_env(work))
    started = time.monotonic()
    try:
        bundle = None
        if args.no_bundle:
            chapter(2, "The offline bundle (skipped: --no-bundle)")
        else:
            bundle = chapters.bundle(work, _ansible_env(work),
                                     args.bundle.resolve() if args.bundle else None)  # fmt: skip
        chapter(3, "A cluster of three hosts with no network")
        if instances and bundle:
            env = _ansible_env(work)
            cluster: object = nspawn_chapters.nspawn_cluster(procs, work, gnupghome, env,
                                                             instances, bundle)  # fmt: skip
            tells = (nspawn_chapters.kv_across_hosts, nspawn_chapters.unit_moves,
                     nspawn_chapters.rolling_update)  # fmt: skip
        else:
            say(f"""Not running the hosts in systemd-nspawn instances, because:
                {"; ".join(blockers)}. The same story runs as processes on 127.0.0.1 instead:
                one corral-store, and three hosts that are each a corral-fleet agent (own
                state directory, own metadata) and a corral-updated, all on ports the
                kernel chose.""")
            cluster = chapters.process_cluster(procs, work, gnupghome)
            env = _ansible_env(work, cluster.endpoint)
            tells = (chapters.kv_across_hosts, chapters.unit_moves, chapters.rolling_update)
        print(f"(bundle and cluster ready after {time.monotonic() - started:.0f}s)", flush=True)
        for number, (title, tell) in enumerate(zip(TITLES, tells, strict=True), start=4):
            chapter(number, title)
            begun = time.monotonic()
            tell(procs, cluster, env)  # type: ignore[arg-type]
            print(f"(chapter took {time.monotonic() - begun:.0f}s)", flush=True)
        print(f"\nThe story took {time.monotonic() - started:.0f}s. Cleaning up.", flush=True)
        return 0
    except (DemoError, OSError, subprocess.SubprocessError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr, flush=True)
        return 130
    finally:
        procs.stop_all()
        if instances:
            instances.destroy()
        stop_gpg_agent(gnupghome)
        shutil.rmtree(gnupghome, ignore_errors=True)
        if args.keep:
            print(f"working directory kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
