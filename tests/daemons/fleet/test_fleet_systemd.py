"""The systemd executor against real systemd, in a systemd-nspawn instance booted with
systemd and without network: corral installed from wheels with `pip --no-index`,
corral-store and `corral-fleet --executor systemd` run as services inside, and a unit
started, read and stopped through corralctl, checked against systemctl and journalctl.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from nspawn_box import Box, build_wheels

CTL = "/opt/corral/bin/corralctl --endpoint http://127.0.0.1:2379"
HELLO = """\
[Unit]
Description=Hello from corral

[Service]
ExecStart=/bin/sh -c 'while true; do echo Hello World; sleep 0.5; done'
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    work = tmp_path_factory.mktemp("nspawn")
    wheels = work / "wheels"
    build_wheels(wheels, work / "build")
    b = Box("corral-fleet-systemd", work, [f"--bind-ro={wheels}:/srv/wheels"])
    b.start()
    try:
        b.sh(
            "python3 -m venv /opt/corral && "
            "/opt/corral/bin/pip install --quiet --no-index --find-links /srv/wheels corral",
            timeout=180,
        )
        b.sh(
            "systemd-run --unit=corral-store /opt/corral/bin/corral-store "
            "--data-dir /var/lib/corral-store --listen-client-urls http://127.0.0.1:2379 && "
            "systemd-run --unit=corral-fleet /opt/corral/bin/corral-fleet --executor systemd "
            "--machine-id box1 --agent-ttl 5s --state-dir /var/lib/corral-fleet "
            "--endpoint http://127.0.0.1:2379"
        )
        _until(b, f"{CTL} machine list --no-legend", lambda out: "box1" in out, "agent up")
        yield b
    finally:
        b.destroy()


def _until(b: Box, script: str, ok: object, what: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = b.sh(script, check=False)
        if ok(out):  # type: ignore[operator]
            return out
        time.sleep(0.2)
    logs = b.sh("journalctl --no-pager -n 40 -u corral-fleet -u corral-store", check=False)
    raise AssertionError(f"{what}: last output {out!r}\n{logs}")


@pytest.mark.timeout(600)
def test_start_status_journal_and_stop_through_real_systemd(box: Box) -> None:
    box.sh(f"mkdir -p /srv/units && cat > /srv/units/hello.service <<'EOF'\n{HELLO}EOF")
    box.sh(f"{CTL} unit start /srv/units/hello.service")
    # systemd runs it: the unit file is where the executor writes them, and active
    assert box.sh("cat /run/systemd/system/hello.service") == HELLO
    _until(box, "systemctl is-active hello.service", lambda o: o.strip() == "active", "active")
    # corralctl reads the state the agent read from systemd, with systemd's main PID
    listed = _until(
        box,
        f"{CTL} unit list --no-legend --full",
        lambda o: "active" in o and "running" in o,
        "listed active",
    )
    assert listed.split() == ["hello.service", "box1/127.0.0.1", "active", "running", "-"]
    main_pid = box.sh("systemctl show -p MainPID --value hello.service").strip()
    status = box.sh(f"{CTL} unit status hello.service")
    assert "hello.service - Hello from corral" in status, status
    assert "Active: active (running)" in status and f"Main PID: {main_pid}" in status, status
    # logs come from journald (the unit's PID tags each line), via the agent's endpoint
    journal = _until(
        box,
        f"{CTL} unit journal --lines 5 hello.service",
        lambda o: (
            len(o.splitlines()) == 5
            and all(line.endswith("Hello World") for line in o.splitlines())
        ),
        "journal",
    )
    for line in journal.splitlines():
        assert line.endswith(f"sh[{main_pid}]: Hello World"), journal

    box.sh(f"{CTL} unit stop hello.service")
    _until(box, "systemctl is-active hello.service", lambda o: o.strip() == "inactive", "stopped")
    _until(
        box,
        f"{CTL} unit list --no-legend --full",
        lambda o: "hello.service" in o and "inactive" in o and "dead" in o,
        "listed stopped",
    )
    assert box.sh("systemctl show -p MainPID --value hello.service").strip() == "0"
    # stopped, not unloaded: the file stays, and the journal still has what it wrote
    assert box.sh("test -f /run/systemd/system/hello.service && echo kept").strip() == "kept"
    assert "Stopped hello.service" in box.sh(f"{CTL} unit journal --lines 20 hello.service")
