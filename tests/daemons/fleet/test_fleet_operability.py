"""corral-fleet in production: Prometheus metrics scraped over HTTP from real agents,
systemd notifications on a real NOTIFY_SOCKET, journald-native and JSON log lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_harness import LOOP, Fleet, FleetAgent
from fleet_metrics import metrics_url

from corral.testing import StoreServer, datagrams, sample, scrape, wait_until

METRICS = ("--metrics-listen", "127.0.0.1:0")
WORKER_LOOP = LOOP + "[X-Fleet]\nMachineMetadata=role=worker\n"


@pytest.fixture
def fleet(store: StoreServer, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(store.url, tmp_path / "fleet")
    try:
        yield f
    finally:
        f.close()


def _wait_value(url: str, name: str, want: float, timeout: float = 15, **labels: str) -> None:
    seen: list[float | None] = []

    def ok() -> bool:
        seen[:] = [sample(scrape(url), name, **labels)]
        return seen[0] == want

    try:
        wait_until(ok, timeout, f"{name}{labels} == {want}", interval=0.2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: last {seen}") from exc


def test_metrics_follow_a_unit_and_a_failover(fleet: Fleet) -> None:
    # one engine candidate; the unit may only run on the two workers, so the engine
    # survives the failover and times it
    engine = fleet.add("m1", "role=engine", extra=METRICS)
    workers = {mid: fleet.add(mid, "role=worker", engine=False, extra=METRICS)
               for mid in ("m2", "m3")}  # fmt: skip
    fleet.wait_machines("m1", "m2", "m3")
    engine_url = metrics_url(engine.log_path)
    urls = {mid: metrics_url(a.log_path) for mid, a in workers.items()}
    _wait_value(engine_url, "corral_fleet_engine_leader", 1)
    _wait_value(engine_url, "corral_fleet_machines", 3, state="up")
    before = scrape(engine_url)
    assert sample(before, "corral_fleet_placements_total") == 0
    assert sample(before, "corral_fleet_failovers_total") == 0
    assert sample(before, "process_resident_memory_bytes")  # the process collector is on
    assert sample(scrape(urls["m2"]), "corral_fleet_engine_leader") == 0
    assert sample(scrape(urls["m2"]), "corral_fleet_machines", state="up") is None

    fleet.ctl("unit", "start", "--block-attempts", "60", fleet.unit_file("w.service", WORKER_LOOP))
    first = fleet.wait_active("w.service")
    _wait_value(urls[first], "corral_fleet_units", 1, desired="launched", current="active")
    assert sample(scrape(engine_url), "corral_fleet_placements_total") == 1

    fleet.agents[first].die()
    second = next(mid for mid in urls if mid != first)
    _wait_value(urls[second], "corral_fleet_units", 1, timeout=20,
                desired="launched", current="active")  # fmt: skip
    after = scrape(engine_url)
    assert sample(after, "corral_fleet_failovers_total") == 1
    assert sample(after, "corral_fleet_placements_total") == 2
    assert sample(after, "corral_fleet_failover_seconds_count") == 1
    took = sample(after, "corral_fleet_failover_seconds_sum")
    assert took is not None and 0 < took < 10  # record gone -> placed: the engine's part
    assert sample(after, "corral_fleet_machines", state="up") == 2


def test_systemd_readiness_watchdog_and_stopping(fleet: Fleet, tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    log = fleet.base / "m1.agent.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    st = os.stat(log)  # stderr is this file: it stands for systemd's journal stream
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        agent = FleetAgent(fleet.endpoint, fleet.base, "m1")
        assert agent.env is not None
        agent.env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000",
                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")  # fmt: skip
        agent.spawn()
        fleet.agents["m1"] = agent
        sock.settimeout(20)
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=machine m1 registered"
        assert fleet.cluster().machines.keys() == {"m1"}  # registered before READY
        pings = datagrams(sock, 2)
        assert pings and set(pings) == {"WATCHDOG=1"}, pings

        # the main loop hangs (a read that never returns: a FIFO among its own files);
        # the heartbeat thread goes on, but the watchdog pings stop
        fifo = agent.state_dir / "launched" / "hung"
        os.mkfifo(fifo)
        datagrams(sock, 1.5)  # pings sent before the loop reached the FIFO
        assert datagrams(sock, 2.5) == []
        assert "m1" in fleet.cluster().machines  # alive, just hung: systemd's call
        writer = os.open(fifo, os.O_WRONLY)  # unblock the reader, then take the FIFO away
        fifo.unlink()
        os.close(writer)
        assert "WATCHDOG=1" in datagrams(sock, 2)

        agent.proc.terminate()  # type: ignore[union-attr]
        assert "STOPPING=1" in datagrams(sock, 5)
        agent.proc.wait(10)  # type: ignore[union-attr]
    lines = agent.log_text().splitlines()
    # journald-native: a priority prefix, no timestamp (the journal stamps lines)
    assert lines[0].startswith("<6>corral.fleet: corral-fleet "), lines[:3]
    assert "<6>corral.fleet.agent: agent: machine m1 registered" in lines


def test_json_log_lines(fleet: Fleet) -> None:
    agent = fleet.add("m1", extra=("--log-format", "json", "--log-level", "WARN"))
    agent_ok = ("--log-level", "DEBUG")
    other = fleet.add("m2", extra=("--log-format", "json", *agent_ok))
    fleet.wait_machines("m1", "m2")
    wait_until(lambda: "registered" in other.log_text(), 10, "m2's registration logged")
    entries = [json.loads(line) for line in other.log_text().splitlines()]
    assert entries[0]["daemon"] == "corral-fleet" and entries[0]["level"] == "info"
    assert entries[0]["message"].startswith("corral-fleet ")  # the version, first
    assert any(e["message"] == "agent: machine m2 registered" for e in entries)
    assert any(e["level"] == "debug" for e in entries)
    # WARN (accepted as before): no info lines at all
    assert all(json.loads(line)["level"] != "info" for line in agent.log_text().splitlines())


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999", ":9465", "127.0.0.1:"])
def test_a_bad_metrics_listen_is_refused_before_anything_starts(tmp_path: Path,
                                                                listen: str) -> None:  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "corral.fleet", "--machine-id", "m1", "--state-dir",
         str(tmp_path / "state"), "--metrics-listen", listen],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"corral-fleet: --metrics-listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:9465"
    )
    assert not (tmp_path / "state").exists()


def test_a_metrics_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "corral.fleet", "--machine-id", "m1", "--state-dir",
             str(tmp_path / "state"), "--metrics-listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        f"corral-fleet: cannot listen on 127.0.0.1:{port}: "
    )
    assert "Traceback" not in done.stderr


def test_store_errors_are_counted_by_operation_and_kind(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the store is down
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    agent = FleetAgent(endpoint, tmp_path, "m1", extra=METRICS)
    agent.spawn()
    try:
        url = metrics_url(agent.log_path)
        _wait_value(url, "corral_fleet_store_errors_total", 2, timeout=10,
                    operation="register", kind="unavailable")  # fmt: skip
        # SIGTERM while the store is still unreachable stops it at once, cleanly
        agent.proc.terminate()  # type: ignore[union-attr]
        assert agent.proc.wait(5) == 0  # type: ignore[union-attr]
    finally:
        agent.cleanup()
