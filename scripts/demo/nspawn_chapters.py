"""Chapters 3 to 6 of the demo when the hosts are systemd-nspawn instances: the cluster
deployed by playbooks/site.yml from the bundle, keys across hosts, m.service moving
off a stopped host, and a signed release rolled through the cluster by the update
engines' own reboots.

Invariant, as in chapters.py: every command a user would type is run through
`tutorial.run` or `Instances.sh` and shown with its output (`[host1]$ ...` is a command
on that host); reads made only to decide when to move on go through `corral.client`
and the project's own record readers, and are not shown.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import cluster as c
from chapters import HOSTS, UNIT, UNIT_FILE
from instances import CONTROLLER, Instances
from tutorial import DemoError, Processes, run, say, wait_for

from corral.client import Client
from corral.etcd_errors import KeyNotFound
from corral.fleet.cluster import Cluster
from corral.updated import records as r
from corral.updated.reboot_lock import RebootLock

REPO = Path(__file__).resolve().parents[2]
SLOTS = "/var/lib/corral-updated/slots"


@dataclass
class NspawnCluster:
    work: Path
    instances: Instances
    inventory: Path
    mirror_dir: Path
    gnupghome: Path
    fingerprint: str
    client: Client
    env: dict[str, str]

    def ctl(self, host: str, *args: str, check: bool = True) -> str:
        return self.instances.sh(host, shlex.join(["corralctl", *args]), check=check)

    def host_of(self, machine_id: str) -> str:
        return next((h.name for h in self.instances.hosts if h.machine_id == machine_id), "?")

    def running(self, unit: str) -> list[str]:
        states = Cluster.read(self.client).states.get(unit, {})
        return sorted(self.host_of(m) for m, s in states.items() if s.active == "active")

    def machines(self) -> list[str]:
        return sorted(self.host_of(m) for m in Cluster.read(self.client).machines)

    def statuses(self) -> dict[str, r.MachineStatus]:
        try:
            node = self.client.get(r.MACHINES).node
        except KeyNotFound:
            return {}
        return {self.host_of(n.name): r.decode(r.MachineStatus, n.value) for n in node.nodes}

    def lock_holders(self) -> list[str]:
        return [self.host_of(h) for h in RebootLock(self.client).read().holders]

    def up(self) -> list[str]:
        return [h.name for h in self.instances.hosts if self.instances.running(h.name)]


def nspawn_cluster(procs: Processes, work: Path, gnupghome: Path, env: dict[str, str],
                   instances: Instances, bundle: Path) -> NspawnCluster:  # fmt: skip
    say("""Three systemd-nspawn instances boot real systemd with no network but a private
        bridge inside a network namespace of the demo's own (10.213.47.0/24 exists
        nowhere else). They are booted by the collection's own Molecule create playbook
        (role corral.cloud.nspawn_instance); each keeps its disk in an overlay of its
        own, so it survives a reboot.""")
    instances.create()
    instances.join_network()
    instances.sh("host1", "ip -brief address")
    say(f"""The operator's release signing key is a throwaway OpenPGP key in its own
        GNUPGHOME ({gnupghome}); hosts only ever get its fingerprint. The mirror is
        served from the operator's machine on the bridge ({CONTROLLER}).""")
    fingerprint = c.make_signing_key(gnupghome)
    mirror_dir = work / "mirror"
    run(["corral-mirror", "--gnupghome", str(gnupghome), "init", str(mirror_dir), "--key",
         fingerprint, "--threshold", "1", "--product", c.PRODUCT])  # fmt: skip
    base = work / "corral-os-1.0.0.img"
    base.write_bytes(b"corral-os 1.0.0\n" * 4096)
    run(["corral-mirror", "--gnupghome", str(gnupghome), "publish", str(mirror_dir), str(base),
         "--channel", "stable", "--version", "1.0.0", "--key", fingerprint])  # fmt: skip
    argv = ["corral-mirror", "serve", str(mirror_dir), "--listen", f"{CONTROLLER}:0"]
    procs.start("mirror", argv, work / "mirror.log", env)
    mirror_url = c._url_from_log(procs, "mirror", c.MIRROR_READY, "corral-mirror serve")
    inventory = instances.inventory(
        {name: {"rack": rack, "corral_endpoint": f"http://{instances[name].address}:2379"}
         for name, rack in HOSTS},
        {"corral_bundle_dir": str(bundle),
         "store_listen_client_urls": ["http://0.0.0.0:2379", "http://127.0.0.1:4001"],
         "fleet_public_ip": "{{ etcd_address }}", "fleet_agent_ttl": "5s",
         "update_engine_mirror": mirror_url, "update_engine_pins": [fingerprint],
         "update_engine_product": c.PRODUCT, "update_engine_initial_version": "1.0.0",
         "update_engine_strategy": "lock", "update_engine_interval": "3s",
         "update_engine_extra_args": ["--jitter", "0.3", "--tick", "0.2s", "--alive-ttl",
                                      "90s", "--drain-timeout", "30s"]})  # fmt: skip
    say("""playbooks/site.yml deploys the whole cluster from the bundle: an etcd member on
        each host, corral-store over that etcd cluster, a corral-fleet agent and
        corral-updated (pinned to the operator's key, following the mirror, reboots taken
        through the cluster's reboot lock).""")
    say(f"""The instances have no boot loader that knows A/B slots: the demo's
        scripts/demo/boot_loader.yml adds a oneshot unit that runs corral.updated.firmware
        at each boot, before corral-updated, to pick the slot ({SLOTS}), as GRUB would.""")
    run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks/site.yml"),
         str(REPO / "scripts/demo/boot_loader.yml")], env=env, timeout=600,
        show=f"ansible-playbook -i {inventory.name} playbooks/site.yml "
             "scripts/demo/boot_loader.yml")  # fmt: skip
    endpoints = ",".join(f"http://{h.address}:2379" for h in instances.hosts)
    cl = NspawnCluster(work, instances, inventory, mirror_dir, gnupghome, fingerprint,
                       Client(endpoints, timeout=5), env)  # fmt: skip
    names = [h for h, _ in HOSTS]
    wait_for(lambda: cl.machines() == names, 90, "three fleet agents")
    wait_for(lambda: sorted(cl.statuses()) == names
             and all(s.version == "1.0.0" and s.status == r.IDLE
                     for s in cl.statuses().values()), 90, "three update engines")  # fmt: skip
    say("Three hosts have joined, each named by its machine id ("
        + ", ".join(f"{h.name} {h.machine_id[:8]}..." for h in instances.hosts)
        + "). Each heartbeats a key with a TTL; look at IP and METADATA:")
    cl.ctl("host1", "machine", "list")
    cl.ctl("host2", "update", "status")
    return cl


def kv_across_hosts(procs: Processes, cl: NspawnCluster, env: dict[str, str]) -> None:
    cl.ctl("host1", "kv", "set", "/hello", "from the operator")
    for h in cl.instances.hosts:
        cl.instances.sh(h.name, f"mkdir -p /etc/corral-demo/{h.name}", quiet=True)
    say("""The operator writes a key for each host, /demo/hosts/<host>, through the stores
        (CORRAL_ENDPOINT); then each host's peers.conf is rendered from a template that
        reads all of them back with lookup('corral.cloud.kv'), each host's lookups going to
        its own store (the inventory's corral_endpoint). The stores share the etcd
        cluster, so every host sees every key.""")
    endpoints = ",".join(f"http://{h.address}:2379" for h in cl.instances.hosts)
    run(["ansible-playbook", "-i", str(cl.inventory), str(REPO / "playbooks/demo_kv.yml"),
         "-e", "demo_out=/etc/corral-demo",
         "-e", f"demo_template={REPO / 'scripts/demo/templates/peers.conf.j2'}"],
        env=dict(env, CORRAL_ENDPOINT=endpoints), timeout=300,
        show=f"CORRAL_ENDPOINT={endpoints} ansible-playbook -i {cl.inventory.name} "
             "playbooks/demo_kv.yml -e demo_out=/etc/corral-demo "
             "-e demo_template=scripts/demo/templates/peers.conf.j2")  # fmt: skip
    say("On host3, the file lists what host1 and host2 wrote:")
    text = cl.instances.sh("host3", "cat /etc/corral-demo/host3/peers.conf")
    if "peer host1 rack=r1" not in text or "greeting from the operator" not in text:
        raise DemoError("host3's peers.conf does not show the other hosts' keys")
    cl.ctl("host2", "kv", "ls", "--recursive", "/demo")


def unit_moves(procs: Processes, cl: NspawnCluster, env: dict[str, str]) -> None:
    cl.instances.sh("host1", f"cat > /root/{UNIT} <<'EOF'\n{UNIT_FILE}EOF\ncat /root/{UNIT}")
    cl.ctl("host1", "unit", "start", f"/root/{UNIT}")
    wait_for(lambda: len(cl.running(UNIT)) == 1, 60, f"{UNIT} running")
    first = cl.running(UNIT)[0]
    other = next(h for h in cl.up() if h != first)
    say(f"The scheduler placed it on {first}, where systemd runs it:")
    cl.ctl(other, "unit", "list")
    journal = f"journalctl -u {UNIT} -n 3 --no-pager -o cat"
    wait_for(lambda: "Hello World" in cl.instances.sh(first, journal, quiet=True), 30,
             f"{UNIT}'s journal")  # fmt: skip
    cl.instances.sh(first, journal)
    say(f"""Now stop {first} (a clean shutdown of its instance). Its fleet agent's heartbeat
        key expires (TTL 5s) and the engine moves {UNIT} to a live host.""")
    t0 = time.monotonic()
    cl.instances.stop(first)
    wait_for(lambda: first not in cl.machines(), 60, f"{first} to be declared gone")
    wait_for(lambda: bool(cl.running(UNIT)) and first not in cl.running(UNIT), 90,
             f"{UNIT} to move")  # fmt: skip
    second = cl.running(UNIT)[0]
    say(f"{UNIT} moved from {first} to {second} in {time.monotonic() - t0:.1f}s:")
    cl.ctl(second, "machine", "list")
    cl.ctl(second, "unit", "list")
    cl.instances.sh(second, f"systemctl is-active {UNIT}")
    say(f"Boot {first} again; it rejoins (its etcd member too), and {UNIT} stays where it is.")
    cl.instances.start(first)
    wait_for(lambda: first in cl.machines(), 90, f"{first} to rejoin")
    cl.ctl(first, "machine", "list")


def rolling_update(procs: Processes, cl: NspawnCluster, env: dict[str, str]) -> None:
    payload = cl.work / "corral-os-1.1.0.img"
    payload.write_bytes(b"corral-os 1.1.0\n" * 4096)
    say("""Before: every host runs 1.0.0. The operator signs release 1.1.0 with the
        throwaway key and publishes it to the mirror. Each host's corral-updated checks
        every few seconds, verifies the signature against the fingerprint it pinned,
        writes the payload to its passive slot, drains its units and runs `systemctl
        reboot`, but only once it holds the reboot lock (locksmith's semaphore, at most
        one holder): never two hosts down at once.""")
    cl.ctl("host1", "update", "status")
    cl.ctl("host1", "lock", "set-max", "1")
    run(["corral-mirror", "--gnupghome", str(cl.gnupghome), "publish", str(cl.mirror_dir),
         str(payload), "--channel", "stable", "--version", "1.1.0", "--key", cl.fingerprint],
        show=f"corral-mirror --gnupghome {cl.gnupghome} publish {cl.mirror_dir.name} "
             f"{payload.name} --channel stable --version 1.1.0 --key {cl.fingerprint}")  # fmt: skip
    say("""What happens next, shown when it changes (the lock's holders, each host's update
        status, which instances are up; an instance that reboots is booted again when
        its systemd-nspawn exits with 133):""")
    names = [h for h, _ in HOSTS]
    shown: tuple[object, ...] = ()
    most_down = 0
    reboots: list[str] = []
    deadline = time.monotonic() + 360
    while time.monotonic() < deadline:
        up = cl.up()
        most_down = max(most_down, len(names) - len(up))
        reboots += [h for h in names if h not in up and h not in reboots]
        cl.instances.revive(lambda text: print(f"[{_now()}] {text}", flush=True))
        statuses = cl.statuses() if up else {}
        holders = cl.lock_holders() if up else []
        # a periodic check (CHECKING_FOR_UPDATE, then IDLE again) is not news
        now = (tuple(up), tuple(holders),
               tuple(sorted((m, r.IDLE if s.status == r.CHECKING else s.status, s.version)
                            for m, s in statuses.items())))  # fmt: skip
        if now != shown:
            shown = now
            lines = [f"[{_now()}] up: {' '.join(up) or '-'}; lock held by: "
                     f"{' '.join(holders) or 'nobody'}"]  # fmt: skip
            lines += [f"    {m}  {s.status:<38} {s.version:<7} {s.new_version}"
                      for m, s in sorted(statuses.items())]  # fmt: skip
            print("\n".join(lines), flush=True)
        if (len(up) == len(names) and not holders and len(statuses) == len(names)
                and all(s.version == "1.1.0" and s.status == r.IDLE
                        for s in statuses.values())):  # fmt: skip
            break
        time.sleep(0.2)
    else:
        raise DemoError("the release did not reach every host in 360s")
    say(f"""Every host rebooted once ({', '.join(reboots)}), at most {most_down} down at a
        time. After:""")
    if most_down > 1 or sorted(reboots) != names:
        raise DemoError(f"reboots {reboots}, {most_down} hosts down at once")
    update = ""
    for _ in range(50):  # a host between two checks shows CHECKING for a moment
        update = cl.instances.sh("host1", "corralctl update status", quiet=True)
        if len(re.findall(r"UPDATE_STATUS_IDLE\s+1\.1\.0", update)) == len(names):
            break
        time.sleep(0.2)
    cl.ctl("host1", "update", "status")
    for h in names:
        cl.instances.sh(h, f"cat {SLOTS}/slots.json | tr -d '\\n '; echo")
    wait_for(lambda: len(cl.running(UNIT)) == 1, 90, f"{UNIT} running after the rollout")
    say(f"{UNIT} was drained off each host before its reboot and kept running:")
    cl.ctl("host2", "unit", "list")


def _now() -> str:
    return time.strftime("%H:%M:%S")
