"""The demo's three hosts as systemd-nspawn instances with no network, booted and
stopped by the collection's own Molecule playbooks (extensions/molecule/cluster/
create.yml and shared/destroy.yml, which apply the `nspawn_instance` role), given the
variables Molecule would give them.

Each instance is made to survive a reboot, as a real host does:
- its writes go to an overlay upper directory of its own in the work directory
  (`--volatile=no --overlay=+/:UPPER:/`), not to the role's throwaway tmpfs, so
  what site.yml installed is still there after `systemctl reboot`;
- it lives in a network namespace of its own (`--network-namespace-path`) that
  outlasts the instance, so the veth create.yml puts in it keeps its address;
- its machine id is fixed (`--uuid`).
systemd-nspawn exits with status 133 when an instance reboots (it runs with
--keep-unit, so it leaves the restart to whoever runs it): `Instances.revive()` plays
that part and boots again every instance whose console ends with "Rebooting.".

The hosts' network is a bridge inside the demo's own network namespace (addresses in
10.213.47.0/24 exist nowhere else); the driver joins that namespace (`join_network`)
once the root file system exists, so its lookups and corralctl reach the stores.

Invariant: `destroy()` leaves no instance, namespace, mount or upper directory behind,
whatever state the demo was in.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tutorial import DemoError, run

REPO = Path(__file__).resolve().parents[2]
CREATE = REPO / "extensions/molecule/cluster/create.yml"
DESTROY = REPO / "extensions/molecule/shared/destroy.yml"
NETWORK = "10.213.47"
CONTROLLER = f"{NETWORK}.254"  # the bridge's own address (create.yml)
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Instance:
    name: str
    rack: str
    address: str
    machine_id: str
    netns: str


class Instances:
    def __init__(self, work: Path, hosts: Sequence[tuple[str, str]],
                 env: dict[str, str]) -> None:  # fmt: skip
        self.work = work
        self.base = work / "nspawn"
        self.run_dir = self.base / "instances"
        self.netns = f"corral-demo-{os.getpid()}"
        self.env = dict(env, CORRAL_CLUSTER_NETNS=self.netns)
        self.hosts = [Instance(name, rack, f"{NETWORK}.{i}", uuid.uuid4().hex,
                               f"{self.netns}-{name}")
                      for i, (name, rack) in enumerate(hosts, start=1)]  # fmt: skip
        self.off: set[str] = set()  # stopped on purpose: not to be booted again
        self._reviver: subprocess.Popen[bytes] | None = None

    def __getitem__(self, name: str) -> Instance:
        return next(h for h in self.hosts if h.name == name)

    # --- the instances' life ---------------------------------------------------------

    def create(self) -> None:
        """Namespaces, then every instance booted and joined to the bridge."""
        busy = [h.name for h in self.hosts if _nspawn_pids(h.name)]
        if busy:
            raise DemoError(f"nspawn instances named {', '.join(busy)} already run here")
        self.base.mkdir(parents=True, exist_ok=True)
        for ns in [self.netns] + [h.netns for h in self.hosts]:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True,
                           timeout=30)  # fmt: skip
        for h in self.hosts:
            (self.base / "upper" / h.name).mkdir(parents=True, exist_ok=True)
        self._playbook(CREATE, self.hosts, "extensions/molecule/cluster/create.yml")

    def join_network(self) -> None:
        """From now on this process (and what it starts) lives on the hosts' bridge."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise DemoError(f"cannot join {self.netns}: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(fd)

    def stop(self, name: str) -> None:
        """A clean shutdown of one instance (SIGTERM to systemd-nspawn)."""
        self.off.add(name)
        self._playbook(DESTROY, [self[name]],
                       f"extensions/molecule/shared/destroy.yml  # {name} only")  # fmt: skip

    def start(self, name: str) -> None:
        self.off.discard(name)
        self._playbook(CREATE, self.hosts,
                       f"extensions/molecule/cluster/create.yml  # boots {name} again")  # fmt: skip

    def running(self, name: str) -> bool:
        return bool(self._pids(name))

    def _pids(self, name: str) -> list[int]:
        """This demo's systemd-nspawn of that host (its overlay names the work directory),
        never another's of the same name."""
        return _nspawn_pids(name, f"--overlay=+/:{self.base / 'upper' / name}:/")

    def rebooted(self, name: str) -> bool:
        """Down, not on purpose, and its console's last words are systemd's reboot."""
        if name in self.off or self.running(name):
            return False
        console = self.run_dir / f"{name}.console.log"
        with contextlib.suppress(OSError):
            return "Rebooting." in console.read_text(errors="replace")[-2000:]
        return False

    def revive(self, show: Callable[[str], None]) -> list[str]:
        """Boot again, in the background, every instance that rebooted (what a service
        with RestartForceExitStatus=133 does for systemd-nspawn); returns their names.
        One create.yml at a time: a later reboot waits for the running one."""
        if self._reviver is not None:
            if self._reviver.poll() is None:
                return []
            failed, self._reviver = self._reviver.returncode != 0, None
            # A host that went down for its own reboot while the playbook was at it
            # fails the playbook; booting that host is the next run's job.
            if failed and not any(self.rebooted(h.name) for h in self.hosts):
                log = (self.base / "revive.log").read_text(errors="replace")
                raise DemoError(f"booting a rebooted instance failed:\n{log[-3000:]}")
        again = [h.name for h in self.hosts if self.rebooted(h.name)]
        if again:
            for name in again:
                console = self.run_dir / f"{name}.console.log"
                console.rename(console.with_suffix(f".{time.time_ns()}.log"))
            show(f"systemd-nspawn of {', '.join(again)} exited with status 133 (reboot): "
                 "booting it again")  # fmt: skip
            with open(self.base / "revive.log", "w") as log:
                self._reviver = subprocess.Popen(self._playbook_argv(CREATE, self.hosts),
                                                 env=self.env, stdout=log,
                                                 stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL)  # fmt: skip
        return again

    def destroy(self) -> None:
        """Everything gone, even after a failure half-way through create()."""
        if self._reviver is not None:
            self._reviver.kill()
            self._reviver.wait()
        # What destroy.yml does (SIGTERM: a clean shutdown, then SIGKILL), but to all at
        # once, where the playbook waits for one after the other.
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while any(self._pids(h.name) for h in self.hosts) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._signal_all(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(self._pids(h.name) for h in self.hosts) and time.monotonic() < deadline:
            time.sleep(0.1)
        for ns in [self.netns] + [h.netns for h in self.hosts]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)

    def _signal_all(self, sig: signal.Signals) -> None:
        for h in self.hosts:
            for pid in self._pids(h.name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    # --- inside an instance ----------------------------------------------------------

    def leader(self, name: str) -> int:
        return int((self.run_dir / f"{name}.leader").read_text())

    def sh(self, name: str, command: str, check: bool = True, timeout: float = 120,
           quiet: bool = False) -> str:  # fmt: skip
        """Run a shell command on a host, shown as `[host]$ command`."""
        argv = ["nsenter", f"--target={self.leader(name)}", "--mount", "--uts", "--ipc",
                "--net", "--pid", "--", "env", "PATH=/opt/corral/venv/bin:/usr/sbin:/usr/bin:"
                "/sbin:/bin", "COLUMNS=110", "sh", "-c", command]  # fmt: skip
        if quiet:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            return done.stdout if done.returncode == 0 or not check else ""
        return run(argv, check=check, timeout=timeout, show=command, prompt=f"[{name}]$")

    # --- the playbooks' variables ----------------------------------------------------

    def inventory(self, host_vars: dict[str, dict[str, object]],
                  corral_vars: dict[str, object]) -> Path:  # fmt: skip
        """The inventory site.yml and the demo's plays run with: the instances reached
        with the nsenter connection through the leader PID create.yml records."""
        hosts = {h.name: {"etcd_address": h.address, "fleet_metadata": {"rack": h.rack},
                          **host_vars.get(h.name, {})} for h in self.hosts}  # fmt: skip
        leader = ("{{ lookup('ansible.builtin.file', '" + str(self.run_dir)
                  + "/' ~ inventory_hostname ~ '.leader') }}")  # fmt: skip
        inventory = {"all": {"children": {
            "nspawn": {"hosts": {h: {} for h in hosts},
                       "vars": {"ansible_connection": "community.docker.nsenter",
                                "ansible_nsenter_pid": leader,
                                "ansible_python_interpreter": "/usr/bin/python3"}},
            "corral": {"hosts": hosts, "vars": corral_vars},
            "etcd": {"hosts": {h: {} for h in hosts}},
        }}}  # fmt: skip
        path = self.base / "inventory.json"
        path.write_text(json.dumps(inventory, indent=1))
        return path

    def _playbook_argv(self, playbook: Path, hosts: Sequence[Instance]) -> list[str]:
        platforms = [{"name": h.name, "address": h.address, "nspawn_args": [
            # after the role's own arguments, so these win
            "--volatile=no",
            # "+/" is the root file system the role chose (--directory)
            f"--overlay=+/:{self.base / 'upper' / h.name}:/",
            f"--network-namespace-path=/run/netns/{h.netns}",
            f"--uuid={uuid.UUID(h.machine_id)}",
        ]} for h in hosts]  # fmt: skip
        variables = self.base / f"{playbook.stem}-{'-'.join(h.name for h in hosts)}.json"
        variables.write_text(json.dumps({
            "molecule_yml": {"platforms": platforms},
            "molecule_ephemeral_directory": str(self.base),
            "molecule_instance_config": str(self.base / "instance_config.yml"),
        }, indent=1))  # fmt: skip
        return ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook),
                "-e", f"@{variables}"]  # fmt: skip

    def _playbook(self, playbook: Path, hosts: Sequence[Instance], shown: str,
                  quiet: bool = False, timeout: float = 300) -> None:  # fmt: skip
        argv = self._playbook_argv(playbook, hosts)
        if quiet:
            done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                                  timeout=timeout)  # fmt: skip
            if done.returncode != 0:
                raise DemoError(f"{playbook.name} failed:\n{done.stdout[-3000:]}")
            return
        run(argv, env=self.env, timeout=timeout,
            show=f"CORRAL_CLUSTER_NETNS={self.netns} ansible-playbook {shown}")  # fmt: skip


def _nspawn_pids(machine: str, argument: str = "") -> list[int]:
    """systemd-nspawn processes running the machine of that name (and given that
    argument)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv[0].endswith(b"systemd-nspawn") and f"--machine={machine}".encode() in argv
                and (not argument or argument.encode() in argv)):  # fmt: skip
            pids.append(int(proc.name))
    return pids
