"""`corralctl update status`: a machine's status is the record under its own key, and
`-o json` gives scripts (Puppet's corral_update type) the status, hold and requests."""

from __future__ import annotations

import json
import subprocess
import sys

from corral.client import Client
from corral.testing import StoreServer
from corral.updated import records as r


def _status(store: StoreServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corral.ctl.main", "--endpoint", store.url,
                           "update", "status", *args], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_a_status_is_the_record_under_its_own_key(store: StoreServer) -> None:
    with Client(store.url) as c:
        c.set(f"{r.MACHINES}/m2", r.encode(r.MachineStatus("m2", version="1.0.0")))
        # m3's updater credential may write m3's record only, and claims to be m2 there
        c.set(f"{r.MACHINES}/m3", r.encode(r.MachineStatus("m2", version="6.6.6")))
        c.set(f"{r.HOLDS}/m2", "held")
        c.set(f"{r.REQUESTS}/m2/reboot", "requested")
    got = _status(store, "-o", "json")
    assert got.returncode == 0, got.stderr
    machines = {m["machine"]: m for m in json.loads(got.stdout)["machines"]}
    assert sorted(machines) == ["m2", "m3"]
    assert machines["m2"]["version"] == "1.0.0" and machines["m2"]["held"] is True
    assert machines["m2"]["requests"] == ["reboot"]
    assert machines["m3"]["version"] == "" and "another machine" in machines["m3"]["error"]
    assert "claims to be machine 'm2'" in got.stderr
    table = _status(store)
    assert table.returncode == 0 and "6.6.6" not in table.stdout
