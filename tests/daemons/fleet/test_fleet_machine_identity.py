"""A machine is the one its record's key names: `corral-agent-<id>` may write only
`machines/<id>`, so the `id` inside the record is that agent's word, not a fact. A
record claiming another machine is refused by the engine and left out of corralctl's
view with a reason, as are records whose fields have the wrong types."""

from __future__ import annotations

import json

import pytest

from corral.fleet.cluster import Cluster
from corral.fleet.engine import Engine
from corral.fleet.records import MACHINES, FleetRecordError, MachineRecord, encode, machine_record
from corral.fleet.scheduler import Scheduler
from corral.fleet.watched_keys import CopyChange

REAL_M2 = encode(MachineRecord("m2", ip="10.0.0.2", metadata={"role": "web"}))
FORGED_BY_M3 = json.dumps({"id": "m2", "ip": "10.6.6.6", "metadata": {"role": "db"}})


def test_a_record_is_read_as_the_machine_its_key_names() -> None:
    assert machine_record("m2", REAL_M2).ip == "10.0.0.2"
    with pytest.raises(FleetRecordError, match=r"/_corral/machines/m3 claims to be machine 'm2'"):
        machine_record("m3", FORGED_BY_M3)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"id": "m3", "metadata": ["role", "db"]}', "metadata: expected"),
        ('{"id": "m3", "metadata": {"role": {"x": 1}}}', "metadata: expected"),
        ('{"id": "m3", "drained": "false"}', "drained: expected"),
        ('{"id": "m3", "ip": 10}', "ip: expected"),
        ('{"ip": "10.0.0.3"}', "not a MachineRecord"),
        ("[]", "not an object"),
    ],
)
def test_a_record_of_the_wrong_shape_is_refused_naming_its_key(text: str, why: str) -> None:
    with pytest.raises(FleetRecordError, match=why) as refused:
        machine_record("m3", text)
    assert str(refused.value).startswith("/_corral/machines/m3")


def test_the_engine_ignores_a_record_claiming_another_machine() -> None:
    engine = Engine("http://127.0.0.1:9", "m1", ttl=2)
    sched = Scheduler()
    engine.feed(sched, CopyChange("set", key=f"{MACHINES}/m2", value=REAL_M2))
    engine.feed(sched, CopyChange("set", key=f"{MACHINES}/m3", value=FORGED_BY_M3))
    assert sorted(sched.machines) == ["m2"]
    assert sched.machines["m2"].metadata == {"role": "web"}


def test_corralctl_view_leaves_out_a_forged_record_and_says_why() -> None:
    cluster = Cluster.from_values(
        {f"{MACHINES}/m2": REAL_M2, f"{MACHINES}/m3": FORGED_BY_M3, f"{MACHINES}/m4": "{"}
    )
    assert sorted(cluster.machines) == ["m2"] and cluster.machines["m2"].ip == "10.0.0.2"
    assert len(cluster.problems) == 2
    forged = "left out: /_corral/machines/m3 claims to be machine 'm2'"
    assert any(p.startswith(forged) for p in cluster.problems)
    assert any(p.startswith("left out: /_corral/machines/m4:") for p in cluster.problems)
