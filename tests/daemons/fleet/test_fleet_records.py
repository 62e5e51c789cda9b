"""Records read from the store are untrusted: what decode and the key helpers refuse
(pure), and the one log line per problem that loops print."""

from __future__ import annotations

import json
import logging
import re

import pytest

from corral.fleet.quietlog import REPEAT_EVERY, QuietLog
from corral.fleet.records import (
    MACHINES,
    MAX_RECORD_BYTES,
    FleetRecordError,
    MachineRecord,
    ScheduleRecord,
    StateRecord,
    UnitRecord,
    decode,
    encode,
    machine_key_id,
)


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (MachineRecord, {"id": "m", "metadata": 5}, "metadata: expected dict[str, str]"),
        (MachineRecord, {"id": "m", "metadata": {"a": 1}}, "metadata: expected dict[str, str]"),
        (MachineRecord, {"id": "m", "drained": "yes"}, "drained: expected bool"),
        (MachineRecord, {"id": 7}, "id: expected str"),
        (StateRecord, {"machine": "m", "failures": True}, "failures: expected int"),
        (StateRecord, {"machine": "m", "failures": "3"}, "failures: expected int"),
        (UnitRecord, {"name": "a", "contents": ["x"]}, "contents: expected str"),
        (UnitRecord, {"name": "a"}, "missing 1 required positional argument"),
        (ScheduleRecord, {"machine": None}, "machine: expected str"),
    ],
)
def test_fields_of_the_wrong_type_are_refused(cls: type, value: object, message: str) -> None:
    with pytest.raises(FleetRecordError, match=re.escape(message)):
        decode(cls, json.dumps(value))


def test_huge_and_deep_values_are_refused_without_parsing_them() -> None:
    padded = json.dumps({"id": "m", "hostname": "h" * MAX_RECORD_BYTES})
    with pytest.raises(FleetRecordError, match=f"more than {MAX_RECORD_BYTES}"):
        decode(MachineRecord, padded)
    with pytest.raises(FleetRecordError, match="recursion"):
        decode(MachineRecord, "[" * 50_000 + "]" * 50_000)
    # unknown fields are ignored (records may gain fields), known ones kept
    assert decode(MachineRecord, '{"id": "m", "future": [1]}') == MachineRecord("m")


def test_a_placement_is_stored_as_before_and_a_reason_beside_it() -> None:
    assert encode(ScheduleRecord("m1")) == '{"machine": "m1"}'
    why = encode(ScheduleRecord("", "no machine is up"))
    assert json.loads(why) == {"machine": "", "reason": "no machine is up"}
    assert decode(ScheduleRecord, '{"machine": "m1"}') == ScheduleRecord("m1")


def test_machine_keys_must_name_a_machine() -> None:
    assert machine_key_id(f"{MACHINES}/m1") == "m1"
    assert machine_key_id(f"{MACHINES}/0123456789abcdef0123456789abcdef") is not None
    for bad in ("m1/inner", "", "-dash", "a" * 129, "sp ace"):
        assert machine_key_id(f"{MACHINES}/{bad}") is None
    assert machine_key_id("/_corral/units/m1") is None


def test_quiet_log_says_each_problem_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    quiet = QuietLog(logging.getLogger("quiet-test"), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="quiet-test"):
        for _ in range(10):  # a loop meeting the same problem every tick
            quiet.warning("load a.service", "load a.service: File exists")
            now[0] += 0.5
        quiet.warning("load a.service", "load a.service: No space left")  # it changed
        quiet.warning("load b.service", "load b.service: File exists")  # another subject
        now[0] += REPEAT_EVERY
        quiet.warning("load a.service", "load a.service: No space left")  # still there
        quiet.resolved("load b.service")
        quiet.warning("load b.service", "load b.service: File exists")  # back again
    assert [r.getMessage() for r in caplog.records] == [
        "load a.service: File exists",
        "load a.service: No space left",
        "load b.service: File exists",
        "load a.service: No space left",
        "load b.service: File exists",
    ]
