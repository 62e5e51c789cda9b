"""Waits until corral-store answers /health, polling; run with the venv's Python.

usage: wait_healthy.py ENDPOINT TIMEOUT_SECONDS   (ENDPOINT as for corral.client)

Exits 0 once healthy. Exits 1 with the reason when the timeout passes or when systemd
restarted the crashed service meanwhile (a crash loop never becomes healthy, so there
is no point waiting it out).
"""

import subprocess
import sys
import time

from corral.client import Client


def restarts() -> int:
    out = subprocess.run(
        ["systemctl", "show", "--property=NRestarts", "--value", "corral-store"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() else 0


def main() -> int:
    endpoint, timeout = sys.argv[1], float(sys.argv[2])
    deadline = time.monotonic() + timeout
    initial_restarts = restarts()
    with Client(endpoint, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if client.health():
                return 0
            if restarts() > initial_restarts:
                print(f"corral-store crashed and was restarted before {endpoint} was healthy")
                return 1
            time.sleep(0.1)
    print(f"corral-store was not healthy at {endpoint} within {timeout:g}s")
    return 1


if __name__ == "__main__":
    sys.exit(main())
