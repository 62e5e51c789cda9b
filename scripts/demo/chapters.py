"""Chapter 2 of the demo (the bundle) and chapters 3 to 6 with the hosts as processes,
each a function that prints what it does, runs it, and checks that what it shows
really happened (a chapter that did not do what it says raises DemoError). The
driver prints the titles of 4 to 6, which nspawn_chapters.py shares.

Invariant: every command a user should try is run through `tutorial.run`, so it is
printed exactly as it could be typed; reads done only to decide when to move on go
through `corral.client` and are not shown.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import cluster as c
from tutorial import DemoError, Processes, chapter, run, say, wait_for

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.updated import records as r
from corral.updated.reboot_lock import RebootLock

REPO = Path(__file__).resolve().parents[2]
HOSTS = (("host1", "r1"), ("host2", "r2"), ("host3", "r3"))
UNIT = "m.service"
UNIT_FILE = """\
[Unit]
Description=MyApp

[Service]
ExecStart=/bin/sh -c "while true; do echo Hello World; sleep 1; done"
"""


@dataclass
class ProcessCluster:
    work: Path
    endpoint: str
    mirror_dir: Path
    mirror_url: str
    gnupghome: Path
    fingerprint: str
    client: Client

    def ctl(self, *args: str, check: bool = True) -> str:
        return run(["corralctl", "--endpoint", self.endpoint, *args], check=check,
                   show=shlex.join(["corralctl", *args]))  # fmt: skip

    def running(self, unit: str) -> list[str]:
        states = Cluster.read(self.client).states.get(unit, {})
        return sorted(mid for mid, s in states.items() if s.active == "active")

    def machines(self) -> list[str]:
        return sorted(Cluster.read(self.client).machines)

    def statuses(self) -> dict[str, r.MachineStatus]:
        try:
            node = self.client.get(r.MACHINES).node
        except KeyNotFound:
            return {}
        return {n.name: r.decode(r.MachineStatus, n.value) for n in node.nodes}


def bundle(work: Path, env: dict[str, str], built: Path | None = None) -> Path:
    """Builds the bundle in the work directory, or shows one built earlier; returns it."""
    chapter(2, "The offline bundle")
    say("""On a connected machine, playbooks/bundle.yml gathers everything hosts with no
        network need: corral's wheels and their dependencies, the corral.cloud collection
        and the Debian packages a minimal host lacks, every file checksummed.""")
    out = built or work / "bundle"
    if built:
        say(f"(--bundle: using the one it built earlier in {built})")
    else:
        shown = f"ansible-playbook -i localhost, -c local playbooks/bundle.yml -e bundle_dir={out}"
        run(["ansible-playbook", "-i", "localhost,", "-c", "local",
             str(REPO / "playbooks/bundle.yml"), "-e", f"bundle_dir={out}"],
            env=env, timeout=600, show=shown)  # fmt: skip
    run(["ls", "-1", str(out), str(out / "collections")])
    manifest = json.loads((out / "manifest.json").read_text())
    say(f"""The bundle holds corral {manifest["corral_version"]} for Python
        {manifest["python"]}: {len(manifest["wheels"])} wheels, {len(manifest["debs"])} Debian
        packages. Carry the directory across the air gap; `sha256sum -c SHA256SUMS` checks
        it on the other side:""")
    run(["sh", "-c", f"cd {out} && sha256sum -c --quiet SHA256SUMS && echo all files intact"],
        show="sha256sum -c --quiet SHA256SUMS && echo all files intact")  # fmt: skip
    return out


def process_cluster(procs: Processes, work: Path, gnupghome: Path) -> ProcessCluster:
    endpoint = c.start_store(procs, work)
    say(f"corral-store (embedded backend) is serving the cluster's keys on {endpoint}.")
    say(f"""The operator's release signing key is a throwaway OpenPGP key in its own
        GNUPGHOME ({gnupghome}); hosts only ever get its fingerprint.""")
    fingerprint = c.make_signing_key(gnupghome)
    mirror_dir = work / "mirror"
    run(["corral-mirror", "--gnupghome", str(gnupghome), "init", str(mirror_dir), "--key",
         fingerprint, "--threshold", "1", "--product", c.PRODUCT])  # fmt: skip
    base = work / "corral-os-1.0.0.img"
    base.write_bytes(b"corral-os 1.0.0\n" * 4096)
    run(["corral-mirror", "--gnupghome", str(gnupghome), "publish", str(mirror_dir), str(base),
         "--channel", "stable", "--version", "1.0.0", "--key", fingerprint])  # fmt: skip
    mirror_url = c.start_mirror(procs, work, mirror_dir)
    say(f"""The mirror is served over HTTP on {mirror_url}, offering 1.0.0, which the hosts
        already run.""")
    for name, rack in HOSTS:
        c.start_host(procs, work, name, rack, endpoint, mirror_url, fingerprint)
    cl = ProcessCluster(work, endpoint, mirror_dir, mirror_url, gnupghome, fingerprint,
                        Client(endpoint, timeout=5))  # fmt: skip
    wait_for(lambda: cl.machines() == [h for h, _ in HOSTS], 60, "three fleet agents")
    wait_for(lambda: sorted(cl.statuses()) == [h for h, _ in HOSTS]
             and all(s.version == "1.0.0" and s.status == r.IDLE
                     for s in cl.statuses().values()), 60, "three update daemons")  # fmt: skip
    say("Three hosts have joined. Each heartbeats a key with a TTL; look at MACHINE and METADATA:")
    cl.ctl("machine", "list")
    cl.ctl("update", "status")
    return cl


def kv_across_hosts(procs: Processes, cl: ProcessCluster, env: dict[str, str]) -> None:
    cl.ctl("kv", "set", "/hello", "from the operator")
    inventory = cl.work / "inventory.ini"
    inventory.write_text("".join(f"{h} rack={rack} ansible_connection=local\n"
                                 for h, rack in HOSTS))  # fmt: skip
    out = cl.work / "rendered"
    for h, _ in HOSTS:
        (out / h).mkdir(parents=True, exist_ok=True)
    say("""Each host writes its own key /demo/hosts/<host>; then each host's peers.conf is
        rendered from a template that reads all of them back with lookup('corral.cloud.kv').
        The store's address comes from CORRAL_ENDPOINT.""")
    template = REPO / "scripts/demo/templates/peers.conf.j2"
    run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks/demo_kv.yml"),
         "-e", f"demo_out={out}", "-e", f"demo_template={template}"], env=env, timeout=300,
        show=f"CORRAL_ENDPOINT={cl.endpoint} ansible-playbook -i {inventory} "
             f"playbooks/demo_kv.yml -e demo_out={out} "
             "-e demo_template=scripts/demo/templates/peers.conf.j2")  # fmt: skip
    say("host3's file lists what host1 and host2 wrote:")
    text = run(["cat", str(out / "host3" / "peers.conf")])
    if "peer host1 rack=r1" not in text or "greeting from the operator" not in text:
        raise DemoError("host3's peers.conf does not show the other hosts' keys")
    cl.ctl("kv", "ls", "--recursive", "/demo")


def unit_moves(procs: Processes, cl: ProcessCluster, env: dict[str, str]) -> None:
    unit_path = cl.work / UNIT
    unit_path.write_text(UNIT_FILE)
    run(["cat", str(unit_path)], show=f"cat {UNIT}")
    run(["corralctl", "--endpoint", cl.endpoint, "unit", "start", str(unit_path)],
        show=f"corralctl unit start {UNIT}")  # fmt: skip
    wait_for(lambda: len(cl.running(UNIT)) == 1, 30, f"{UNIT} running")
    first = cl.running(UNIT)[0]
    say(f"The scheduler placed it on {first}. Where it runs, and what it prints:")
    cl.ctl("unit", "list")
    wait_for(lambda: "Hello World" in _journal(cl), 20, f"{UNIT}'s journal")
    cl.ctl("unit", "journal", UNIT)
    say(f"""Now pull {first}'s power: its fleet agent, corral-updated and every unit process
        get SIGKILL. Nobody tells the cluster; {first}'s heartbeat key simply expires (TTL
        3s) and the engine moves {UNIT} to a live host.""")
    print(f"\n$ kill -KILL <{first}'s corral-fleet, corral-updated and unit processes>", flush=True)
    t0 = time.monotonic()
    c.power(procs, first, on=False)
    wait_for(lambda: first not in cl.machines(), 30, f"{first} to be declared gone")
    wait_for(lambda: bool(cl.running(UNIT)) and first not in cl.running(UNIT), 60,
             f"{UNIT} to move")  # fmt: skip
    second = cl.running(UNIT)[0]
    say(f"{UNIT} moved from {first} to {second} in {time.monotonic() - t0:.1f}s:")
    cl.ctl("machine", "list")
    cl.ctl("unit", "list")
    cl.ctl("unit", "files")
    say(f"Power {first} back on; it rejoins, and {UNIT} stays where it is.")
    c.power(procs, first, on=True)
    wait_for(lambda: first in cl.machines(), 60, f"{first} to rejoin")
    cl.ctl("machine", "list")


def _journal(cl: ProcessCluster) -> str:
    done = subprocess.run(["corralctl", "--endpoint", cl.endpoint, "unit", "journal", UNIT],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    return done.stdout


def rolling_update(procs: Processes, cl: ProcessCluster, env: dict[str, str]) -> None:
    payload = cl.work / "corral-os-1.1.0.img"
    payload.write_bytes(b"corral-os 1.1.0\n" * 4096)
    say("""The operator signs release 1.1.0 with the throwaway key and publishes it to the
        mirror. Hosts check every few seconds, verify the signature against the
        fingerprint they pinned, write the payload to their passive slot, then reboot
        one at a time: the reboot lock (locksmith's semaphore) holds at most one.""")
    cl.ctl("lock", "set-max", "1")
    run(["corral-mirror", "--gnupghome", str(cl.gnupghome), "publish", str(cl.mirror_dir),
         str(payload), "--channel", "stable", "--version", "1.1.0", "--key", cl.fingerprint],
        show=f"corral-mirror --gnupghome {cl.gnupghome} publish {cl.mirror_dir} "
             f"{payload.name} --channel stable --version 1.1.0 --key {cl.fingerprint}")  # fmt: skip
    say("Watching `corralctl lock status` and `corralctl update status` (shown when they change):")
    shown: tuple[object, ...] = ()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        statuses = cl.statuses()
        holders = _lock_holders(cl)
        done = (len(statuses) == len(HOSTS) and not holders
                and all(s.version == "1.1.0" and s.status == r.IDLE for s in statuses.values()))
        now = (holders, sorted((m, s.status, s.version) for m, s in statuses.items()))
        if now != shown:
            shown = now
            lock = _quiet_ctl(cl, "lock", "status")
            update = _quiet_ctl(cl, "update", "status")
            print(f"\n[{time.strftime('%H:%M:%S')}] $ corralctl lock status\n{lock.rstrip()}"
                  f"\n$ corralctl update status\n{update.rstrip()}", flush=True)  # fmt: skip
        if done:
            break
        time.sleep(0.1)
    else:
        raise DemoError("the release did not reach every host in 240s")
    # a host between two checks shows CHECKING_FOR_UPDATE for a moment: show it at rest
    update = ""
    for _ in range(50):
        update = _quiet_ctl(cl, "update", "status")
        if len(re.findall(r"UPDATE_STATUS_IDLE\s+1\.1\.0", update)) == len(HOSTS):
            break
        time.sleep(0.2)
    print(f"\n$ corralctl update status\n{update.rstrip()}", flush=True)
    say("Every host runs 1.1.0. What happened on each, oldest first:")
    for h, _ in HOSTS:
        cl.ctl("update", "history", h)
    wait_for(lambda: len(cl.running(UNIT)) == 1, 60, f"{UNIT} running after the rollout")
    say(f"{UNIT} was drained off each host before its reboot and kept running:")
    cl.ctl("unit", "list")


def _quiet_ctl(cl: ProcessCluster, *args: str) -> str:
    done = subprocess.run(["corralctl", "--endpoint", cl.endpoint, *args],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, COLUMNS="100"))  # fmt: skip
    return done.stdout + done.stderr


def _lock_holders(cl: ProcessCluster) -> list[str]:
    return RebootLock(cl.client).read().holders

