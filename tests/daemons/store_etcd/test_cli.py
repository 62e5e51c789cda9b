"""corral-store --backend etcd refuses clearly: bad endpoints, no etcd answering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corral.store.cli import parser
from corral.testing import free_port


def run_store(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.store", "--listen-client-urls", "http://127.0.0.1:0",
         *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_endpoints_that_are_not_urls_are_refused(tmp_path: Path) -> None:
    for endpoints in ("", "127.0.0.1:2379", "http://127.0.0.1", "ftp://127.0.0.1:1"):
        done = run_store("--backend", "etcd", "--etcd-endpoints", endpoints, cwd=tmp_path)
        assert done.returncode == 2, endpoints
        assert "corral-store:" in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.timeout(60)
def test_no_etcd_answering_is_a_clear_refusal_to_start(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()},http://127.0.0.1:{free_port()}"
    done = run_store("--backend", "etcd", "--etcd-endpoints", nobody, cwd=tmp_path)
    assert done.returncode == 1
    log = done.stdout + done.stderr
    assert "refusing to start: cannot load Corral's keys from etcd" in log
    assert "etcd cluster unavailable" in log and "Traceback" not in log


def test_etcd_request_timeout_defaults_to_8_s_and_refuses_nonsense(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parser().parse_args([]).etcd_request_timeout == 8.0
    assert "(default: 8s," in " ".join(parser().format_help().split())
    assert parser().parse_args(["--etcd-request-timeout", "0.5"]).etcd_request_timeout == 0.5
    # a duration like every other (2min and 500ms were refused: seconds only)
    assert parser().parse_args(["--etcd-request-timeout", "2min"]).etcd_request_timeout == 120
    assert parser().parse_args(["--etcd-max-staleness", "500ms"]).etcd_max_staleness == 0.5
    for bad in ("0", "-1", "soon", "nan", "301", "6min", "infinity"):
        with pytest.raises(SystemExit) as refused:
            parser().parse_args(["--etcd-request-timeout", bad])
        assert refused.value.code == 2, bad
        assert "--etcd-request-timeout" in capsys.readouterr().err


def test_etcd_max_request_bytes_defaults_to_the_etcd_roles_and_refuses_nonsense(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parser().parse_args([]).etcd_max_request_bytes == 8 << 20
    for bad in ("0", "-5", "1.5MiB", str(1 << 31)):
        with pytest.raises(SystemExit) as refused:
            parser().parse_args(["--etcd-max-request-bytes", bad])
        assert refused.value.code == 2, bad
        assert "--etcd-max-request-bytes" in capsys.readouterr().err


def test_etcd_max_batch_defaults_to_64_and_refuses_nonsense(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parser().parse_args([]).etcd_max_batch == 64
    assert parser().parse_args(["--etcd-max-batch", "1"]).etcd_max_batch == 1
    for bad in ("0", "-1", "many", str((1 << 16) + 1)):
        with pytest.raises(SystemExit) as refused:
            parser().parse_args(["--etcd-max-batch", bad])
        assert refused.value.code == 2, bad
        assert "--etcd-max-batch" in capsys.readouterr().err
