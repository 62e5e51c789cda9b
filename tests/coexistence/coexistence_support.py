"""What the coexistence tests share: where the Puppet module is, and the harnesses of
other suites they reuse (the security tests' certificates, the update engine's)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "contrib" / "puppet"
for suite in ("security", "updated"):
    if str(REPO / "tests" / "daemons" / suite) not in sys.path:
        sys.path.insert(0, str(REPO / "tests" / "daemons" / suite))

Puppet = Callable[..., "subprocess.CompletedProcess[str]"]
