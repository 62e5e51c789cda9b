"""corral-updated in production: its Prometheus metrics scraped over HTTP and its
systemd notifications on a real NOTIFY_SOCKET, from the real daemon updating from a
real mirror through a real store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from updated_harness import Signers, UpstreamMirror, status

from corral.testing import ManagedProcess, StoreServer, datagrams, sample, scrape, wait_until
from corral.updated import records as r
from corral.updated.firmware import boot

PAYLOAD = b"system 1.1.0\n" * 1000
STATE = "corral_updated_status"


class Daemon(ManagedProcess):
    """`corral-updated` as systemd runs it: NOTIFY_SOCKET, WATCHDOG_USEC, metrics."""

    def __init__(self, base: Path, store: StoreServer, mirror: str, signers: Signers,
                 notify: str, name: str, *extra: str) -> None:  # fmt: skip
        argv = [sys.executable, "-m", "corral.updated.cli", "--machine-id", "m1",
                "--endpoint", store.url, "--mirror", mirror, "--pin", signers.alice,
                "--pin", signers.bob, "--threshold", "2", "--product", "corral-os",
                "--state-dir", str(base / "state"), "--slot-dir", str(base / "slots"),
                "--initial-version", "1.0.0", "--tick", "0.1", "--no-drain", "--no-canary",
                "--metrics-listen", "127.0.0.1:0", *extra]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1", NOTIFY_SOCKET=notify,
                   WATCHDOG_USEC="1000000")  # fmt: skip
        super().__init__(argv, base / f"{name}.log", env)

    def metrics_url(self) -> str:
        found: list[str] = []

        def logged() -> bool:
            for line in self.log_text().splitlines():
                if "serving metrics on " in line:
                    found.append(line.rsplit(" ", 1)[1])
            return bool(found)

        wait_until(logged, 20, "metrics URL logged")
        return found[0]


def _ready(sock: socket.socket, timeout: float = 30) -> str:
    """The READY=1 datagram (WATCHDOG=1 may come first: the loop pings before it)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        message = sock.recv(4096).decode()
        if message.startswith("READY=1"):
            return message
        assert message == "WATCHDOG=1", message
    raise AssertionError("no READY=1")


def _state(url: str) -> str:
    """The one status the state-set says (value 1)."""
    on = [dict(labels)[STATE] for (name, labels), value in scrape(url).items()
          if name == STATE and value == 1]  # fmt: skip
    assert len(on) == 1, on
    return on[0]


@pytest.fixture
def served(upstream: UpstreamMirror) -> UpstreamMirror:
    upstream.publish("1.1.0", PAYLOAD)
    upstream.serve()
    return upstream


def test_metrics_and_notifications_through_an_update_and_a_rollback(
    store: StoreServer, served: UpstreamMirror, signers: Signers, tmp_path: Path
) -> None:
    notify = str(tmp_path / "notify")
    fifo = tmp_path / "reboot.fifo"
    os.mkfifo(fifo)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(notify)
        # the reboot command hangs (it reads a FIFO nobody writes yet): the main loop
        # with it, as a reboot command that never returns would
        first = Daemon(tmp_path, store, served.url, signers, notify, "first",
                       "--strategy", "lock", "--reboot-command", f"cat {fifo}")  # fmt: skip
        first.spawn()
        try:
            assert _ready(sock) == "READY=1\nSTATUS=machine m1 on slot a"
            url = first.metrics_url()
            # READY=1 came once its status record was written
            assert status(store.url, "m1").version == "1.0.0"

            wait_until(lambda: "rebooting into 1.1.0" in status(store.url, "m1").note, 30,
                       "the reboot command started")  # fmt: skip
            seen = scrape(url)
            assert _state(url) == r.NEED_REBOOT
            assert sample(seen, "corral_updated_versions_info", installed="1.0.0", slot="a",
                          staged="1.1.0") == 1  # fmt: skip
            assert sample(seen, "corral_updated_checks_total", result="available") == 1
            assert sample(seen, "corral_updated_checks_total", result="error") == 0
            assert sample(seen, "corral_updated_last_check_result",
                          corral_updated_last_check_result="available") == 1  # fmt: skip
            checked = sample(seen, "corral_updated_last_check_timestamp_seconds")
            assert checked is not None and abs(checked - time.time()) < 60
            assert sample(seen, "corral_updated_download_bytes_total") == len(PAYLOAD)
            assert sample(seen, "corral_updated_reboot_lock_held") == 1
            assert sample(seen, "corral_updated_rollbacks_total") == 0
            assert sample(seen, "process_resident_memory_bytes")

            datagrams(sock, 1)  # a ping sent just before the command started
            assert datagrams(sock, 2.5) == []  # the loop hangs: no WATCHDOG=1
            with open(fifo, "w"):  # the command returns (exit 0); the loop goes on
                pass
            assert "WATCHDOG=1" in datagrams(sock, 3)

            first.proc.terminate()  # type: ignore[union-attr]
            assert "STOPPING=1" in datagrams(sock, 5)
            assert first.proc.wait(10) == 0  # type: ignore[union-attr]
        finally:
            first.stop()
        assert "corral-updated " in first.log_text().splitlines()[0]  # the version, first

        # the boot loader boots the new slot on trial; the health gate fails
        assert boot(tmp_path / "slots") == "b"
        second = Daemon(tmp_path, store, served.url, signers, notify, "second",
                        "--strategy", "lock", "--reboot-command", "true",
                        "--health-command", "exit 3", "--health-timeout", "1s")  # fmt: skip
        datagrams(sock, 0.1)  # the first daemon's last pings
        second.spawn()
        try:
            assert _ready(sock) == "READY=1\nSTATUS=machine m1 on slot b"
            url = second.metrics_url()
            seen = scrape(url)
            assert sample(seen, "corral_updated_health_gates_total", result="failed") == 1
            assert sample(seen, "corral_updated_health_gates_total", result="passed") == 0
            assert sample(seen, "corral_updated_rollbacks_total") == 1
            assert _state(url) == r.ERROR
        finally:
            second.stop()


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999"])
def test_a_bad_metrics_listen_is_refused_before_anything_is_written(
    tmp_path: Path, listen: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corral.updated.cli", "--machine-id", "m1", "--mirror",
         "http://127.0.0.1:9/", "--pin", "A" * 40, "--state-dir", str(tmp_path / "state"),
         "--slot-dir", str(tmp_path / "slots"), "--metrics-listen", listen],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"corral-updated: --metrics-listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:9465"
    )
    assert not (tmp_path / "state").exists()
