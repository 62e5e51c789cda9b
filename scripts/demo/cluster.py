"""The demo's cluster as processes on 127.0.0.1: one corral-store, an operator's
throwaway OpenPGP key (its own GNUPGHOME), a mirror served by `corral-mirror serve`, and
three hosts (`host.py`: a corral-fleet agent with its own state directory and metadata,
and corral-updated on directory slots).

Invariants: every port is chosen by the kernel (port 0) and read back from the
server's log; every process is registered in `Processes`, so the driver's clean-up
stops it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tutorial import DemoError, Processes, wait_for

PRODUCT = "corral-os"
HOST_PY = Path(__file__).with_name("host.py")
STORE_READY = re.compile(r"serving client requests on (http://\S+)")
MIRROR_READY = re.compile(r"serving mirror \S+ on (http://\S+)")


def _url_from_log(procs: Processes, name: str, pattern: re.Pattern[str], what: str) -> str:
    found: list[str] = []

    def ready() -> bool:
        proc = procs.running[name]
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with {proc.returncode}:\n{procs.log_text(name)}")
        match = pattern.search(procs.log_text(name))
        if match:
            found.append(match.group(1))
        return bool(found)

    wait_for(ready, 30, what, interval=0.05)
    return found[0]


def start_store(procs: Processes, work: Path) -> str:
    argv = ["corral-store", "--data-dir", str(work / "store"),
            "--listen-client-urls", "http://127.0.0.1:0"]  # fmt: skip
    procs.start("store", argv, work / "store.log", dict(os.environ, PYTHONUNBUFFERED="1"))
    return _url_from_log(procs, "store", STORE_READY, "corral-store")


def make_signing_key(gnupghome: Path) -> str:
    """A throwaway ed25519 signing key; returns its fingerprint."""
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ, GNUPGHOME=str(gnupghome))
    uid = "Demo release signer <release@corral.demo>"
    made = subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid,
                           "ed25519", "sign", "never"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    if made.returncode != 0:
        raise DemoError(f"gpg could not make the signing key: {made.stderr.strip()}")
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys", uid], env=env,
                         check=True, capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def stop_gpg_agent(gnupghome: Path) -> None:
    """gpg starts an agent per GNUPGHOME that outlives it: stop the demo's."""
    if gnupghome.exists():
        subprocess.run(["gpgconf", "--homedir", str(gnupghome), "--kill", "all"],
                       capture_output=True, timeout=30)  # fmt: skip


def start_mirror(procs: Processes, work: Path, directory: Path) -> str:
    argv = ["corral-mirror", "serve", str(directory), "--listen", "127.0.0.1:0"]
    procs.start("mirror", argv, work / "mirror.log", dict(os.environ, PYTHONUNBUFFERED="1"))
    return _url_from_log(procs, "mirror", MIRROR_READY, "corral-mirror serve")


@dataclass(frozen=True)
class Host:
    name: str
    dir: Path

    @property
    def log(self) -> Path:
        return self.dir / "host.log"


def start_host(procs: Processes, work: Path, name: str, rack: str, endpoint: str,
               mirror_url: str, fingerprint: str) -> Host:  # fmt: skip
    """A host whose reboot command restarts its own daemons after the boot loader."""
    base = work / "hosts" / name
    base.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": name,
        "slot_dir": str(base / "slots"),
        "fleet_state": str(base / "fleet"),
        "log": str(base / "host.log"),
        "fleet": ["corral-fleet", "--endpoint", endpoint, "--machine-id", name,
                  "--metadata", f"rack={rack}", "--executor", "process", "--agent-ttl", "3s",
                  "--state-dir", str(base / "fleet"), "--public-ip", "127.0.0.1",
                  "--journal-listen", "127.0.0.1:0"],
        "updated": ["corral-updated", "--endpoint", endpoint, "--machine-id", name,
                    "--state-dir", str(base / "updated"), "--mirror", mirror_url,
                    "--product", PRODUCT, "--channel", "stable", "--pin", fingerprint,
                    "--threshold", "1", "--interval", "3s", "--jitter", "0.3",
                    "--slots", "directory", "--slot-dir", str(base / "slots"),
                    "--initial-version", "1.0.0", "--strategy", "lock",
                    "--reboot-command", "kill -HUP $CORRAL_DEMO_HOST_PID",
                    "--alive-ttl", "10s", "--drain-timeout", "30s", "--tick", "0.2s"],
    }  # fmt: skip
    (base / "spec.json").write_text(json.dumps(spec, indent=1))
    # the host's directory is its daemons' and units' working directory, as / would be
    procs.start(name, [sys.executable, str(HOST_PY), str(base / "spec.json")],
                base / "host-process.log", cwd=base)  # fmt: skip
    return Host(name, base)


def power(procs: Processes, host: str, on: bool) -> None:
    """Pull or restore a host's power (see host.py's signals)."""
    procs.running[host].send_signal(signal.SIGUSR2 if on else signal.SIGUSR1)
