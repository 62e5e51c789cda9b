"""Whether this machine can run the demo's hosts as systemd-nspawn instances deployed by
the collection's site playbook, and if not, why (each reason a short phrase the demo
prints before it runs the same story as processes).

Invariant: the checks never start anything; they only look for what the nspawn path
uses: root, the programs it runs, and the playbooks and roles it deploys with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# what the nspawn path boots and deploys with: Molecule's playbooks, the roles they apply
NEEDED = ("playbooks/site.yml", "extensions/molecule/cluster/create.yml",
          "extensions/molecule/shared/destroy.yml", "roles/nspawn_instance", "roles/etcd",
          "roles/fleet", "roles/store", "roles/update_engine")  # fmt: skip
# systemd-nspawn boots the instances, mmdebstrap builds their root file system once,
# ip makes the network namespaces and the bridge, nsenter reaches inside
PROGRAMS = ("systemd-nspawn", "mmdebstrap", "ip", "nsenter")


def _committed(repo: Path, path: str) -> bool:
    done = subprocess.run(["git", "-C", str(repo), "ls-files", "--error-unmatch", path],
                          capture_output=True, timeout=30)  # fmt: skip
    return done.returncode == 0


def nspawn_blockers(repo: Path) -> list[str]:
    """Reasons the nspawn path cannot run here; empty when it can."""
    blockers = [f"{p} is not installed" for p in PROGRAMS if shutil.which(p) is None]
    if os.geteuid() != 0:
        blockers.append("not running as root")
    missing = [p for p in NEEDED if not _committed(repo, p)]
    if missing:
        blockers.append("the nspawn deployment is not part of this checkout (missing: "
                        + ", ".join(missing) + ")")
    return blockers
