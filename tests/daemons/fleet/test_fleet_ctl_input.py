"""corralctl unit with bad input (files that are not UTF-8, huge, not regular or not
readable; names systemd would refuse): one clear line and exit 1, never a traceback,
and nothing written to the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corral.client import Client
from corral.fleet.records import MAX_UNIT_SIZE_CEILING, UNITS
from corral.fleet.spec import MAX_UNIT_BYTES

GOOD = "[Service]\nExecStart=/bin/true\n"


def _ctl(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "--endpoint", endpoint, *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def _refused(endpoint: str, args: tuple[str, ...], message: str) -> None:
    done = _ctl(endpoint, *args)
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def _units(client: Client) -> list[str]:
    try:
        return [n.key for n in client.get(UNITS).node.nodes]
    except Exception:  # no directory yet: no units
        return []


@pytest.mark.parametrize("verb", ["submit", "load", "start", "stop", "unload"])
def test_unit_files_that_cannot_be_units_are_refused_by_every_verb(
    store, tmp_path: Path, verb: str
) -> None:
    latin1 = tmp_path / "latin1.service"
    latin1.write_bytes(b"[Unit]\nDescription=caf\xe9\n" + GOOD.encode())
    huge = tmp_path / "huge.service"
    huge.write_bytes(GOOD.encode() + b"#" * MAX_UNIT_BYTES)
    fifo = tmp_path / "fifo.service"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    folder = tmp_path / "dir.service"
    folder.mkdir()
    cases = [
        ((str(latin1),), "not UTF-8 text (byte 0xe9 at offset 22)"),
        ((str(huge),), f"larger than the limit of {MAX_UNIT_BYTES} bytes (--max-unit-size)"),
        ((str(fifo),), "not a regular file"),
        ((str(folder),), "Is a directory"),
        ((str(tmp_path / "absent.service"),), "No such file or directory"),
        ((str(tmp_path / f"{'a' * 256}.service"),), "File name too long"),
    ]
    for args, message in cases:
        _refused(store.url, ("unit", verb, *args), message)
    assert _units(Client(store.url)) == []


def test_the_size_limit_can_be_raised_and_names_follow_systemds_rules(
    store, tmp_path: Path
) -> None:
    client = Client(store.url)
    big = tmp_path / "big.service"
    big.write_text(GOOD + "#" * MAX_UNIT_BYTES)
    _refused(store.url, ("unit", "submit", str(big)), "larger than the limit")
    raised = _ctl(store.url, "unit", "submit", "--max-unit-size", str(2 * MAX_UNIT_BYTES), str(big))
    assert raised.returncode == 0, raised.stderr
    ceiling = str(MAX_UNIT_SIZE_CEILING + 1)  # the record would not fit
    _refused(store.url, ("unit", "submit", "--max-unit-size", ceiling, str(big)), "must be 1 to")
    template = tmp_path / "web@.service"
    template.write_text(GOOD)
    assert _ctl(store.url, "unit", "submit", str(template)).returncode == 0
    too_long = f"web@{'a' * 244}.service"  # 256 characters: an instance of the template
    at_limit = f"web@{'a' * 243}.service"  # 255: the longest name systemd takes
    for args, message in [
        (("unit", "start", "--no-block", too_long), "256 characters, at most 255"),
        (("unit", "start", "web"), "expected NAME.TYPE"),
        (("unit", "start", "@x.service"), "the name before the type"),
        (("unit", "start", "web@a,b.service"), "the instance after '@'"),
        (("unit", "destroy", "../machines/m1"), "invalid unit name"),
        (("unit", "cat", "../machines/m1"), "invalid unit name"),
        (("unit", "status", "ok.service", "caf\u00e9.service"), "invalid unit name"),
        (("unit", "restart", "x.service/y"), "invalid unit name"),
        (("unit", "journal", "x y.service"), "invalid unit name"),
    ]:
        _refused(store.url, args, message)
    done = _ctl(store.url, "unit", "load", "--no-block", at_limit)
    assert done.returncode == 0, done.stderr
    stored = sorted(k.rsplit("/", 1)[1] for k in _units(client))
    assert stored == sorted(["big.service", at_limit, "web@.service"])


def test_listings_survive_junk_written_straight_into_the_store(store) -> None:
    client = Client(store.url)
    surrogate = (
        '{"name": "s.service", "contents": "[Unit]\\nDescription=bad \\ud800 text\\n'
        '[Service]\\nExecStart=/bin/true\\n", "desired": "launched"}'
    )
    client.set(f"{UNITS}/s.service", surrogate)
    client.set(f"{UNITS}/deep.service", "[" * 50_000 + "]" * 50_000)
    client.set("/_corral/machines/m1", '{"id": "m1", "metadata": 5}')
    client.set("/_corral/machines/m2/inner", '{"id": "m2"}')
    client.set("/_corral/schedule/s.service", '{"machine": "", "reason": "no \\udcff machine"}')
    for args in (
        ("unit", "list"),
        ("unit", "files"),
        ("unit", "cat", "s.service"),
        ("unit", "status", "--lines", "0", "s.service"),
    ):
        done = _ctl(store.url, *args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
    status = _ctl(store.url, "unit", "status", "--lines", "0", "s.service").stdout
    assert "● s.service - bad \\ud800 text" in status
    assert "Placed: nowhere: no \\udcff machine" in status
    assert "s.service" in _ctl(store.url, "unit", "list").stdout
    assert "m1" not in _ctl(store.url, "machine", "list").stdout
