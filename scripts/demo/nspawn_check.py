"""Whether this machine can run the demo's hosts as systemd-nspawn instances deployed by
the collection's site playbook, and if not, why (each reason a short phrase the demo
prints).

Invariant: cheap checks come first, and the checks never start anything: a test boot
is only worth trying once everything the nspawn path needs is present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# what the nspawn path deploys with: the site playbook and the roles it applies
NEEDED = ("playbooks/site.yml", "roles/nspawn_instance", "roles/etcd", "roles/fleet",
          "roles/store", "roles/update_engine")  # fmt: skip


def _committed(repo: Path, path: str) -> bool:
    done = subprocess.run(["git", "-C", str(repo), "ls-files", "--error-unmatch", path],
                          capture_output=True, timeout=30)  # fmt: skip
    return done.returncode == 0


def nspawn_blockers(repo: Path) -> list[str]:
    """Reasons the nspawn path cannot run here; empty when it can."""
    blockers = []
    if shutil.which("systemd-nspawn") is None:
        blockers.append("systemd-nspawn is not installed")
    if os.geteuid() != 0:
        blockers.append("not running as root")
    missing = [p for p in NEEDED if not _committed(repo, p)]
    if missing:
        blockers.append("the nspawn deployment is not part of this checkout yet (missing: "
                        + ", ".join(missing) + ")")
    if not blockers:
        # Everything it would deploy with is present; the driver itself is missing.
        blockers.append("this demo cannot drive nspawn instances yet (Molecule's cluster "
                        "scenario, extensions/molecule/cluster, deploys the same cluster "
                        "into three instances with playbooks/site.yml)")
    return blockers
