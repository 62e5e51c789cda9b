"""The process executor runs a unit as the user, groups, umask, directory and
environment its file asks for, and refuses, before anything runs, a unit asking for
what it cannot do (a sandbox, another user when not root). Checked on the processes
the commands really became."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_harness import wait_state

from corral.fleet.process_executor import ProcessExecutor
from corral.testing import wait_until

REPORT = (
    "/bin/sh -c 'exec > {out}; id -u; id -g; id -G; pwd; umask; "
    'echo "$$HOME|$$USER|$$A|$$B|$$C|$$D|$$E|$$F|$$G"; grep NoNewPrivs /proc/self/status\''
)


@pytest.fixture
def account() -> Iterator[pwd.struct_passwd]:
    """A real user with a home and two groups of its own, removed afterwards."""
    name = f"ct{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="corral-home-"))
    subprocess.run(["groupadd", f"{name}x"], check=True)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--groups", f"{name}x", name],
        check=True,
    )
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield entry
    finally:
        subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", f"{name}x"], check=False)
        shutil.rmtree(home, ignore_errors=True)


def _run_once(ex: ProcessExecutor, name: str, service: str) -> None:
    ex.load(name, f"[Unit]\nDescription=x\nAfter=network.target\n[Service]\n{service}")
    ex.start(name)
    status = ex.root / name / "status.json"

    def done() -> bool:
        return status.exists() and ex.status(name).sub in ("dead", "failed")

    wait_until(done, 10, f"{name} done")


def _report(out: Path) -> list[str]:
    return out.read_text().splitlines()


def test_user_groups_umask_directory_and_environment(
    executor: ProcessExecutor, account: pwd.struct_passwd, tmp_path: Path
) -> None:
    out = Path(account.pw_dir) / "report"
    extra = f"{account.pw_name}x"
    envfile = tmp_path / "env"
    envfile.write_text(
        "# comment\n"
        "C='single $quoted'\n"
        'D="double \\"quoted\\" \\$x" \n'
        "E=unquoted\\ with\\ escapes   \n"
        "export F=exported\n"
        "A=from-file-wins\n"
        'G="two\nlines"\n'
    )
    _run_once(
        executor,
        "who.service",
        f"Type=oneshot\nUser={account.pw_name}\nSupplementaryGroups=daemon\nUMask=0027\n"
        "WorkingDirectory=~\nNoNewPrivileges=yes\n"
        'Environment="A=one two" B=tab\\there\n'
        f"EnvironmentFile={envfile}\nEnvironmentFile=-/nonexistent/env\n"
        f"ExecStart={REPORT.format(out=out)}\n".replace("$$", "$"),
    )
    lines = _report(out)
    groups = {account.pw_gid, _gid(extra), _gid("daemon")}
    assert lines[0] == str(account.pw_uid) and lines[1] == str(account.pw_gid)
    assert {int(g) for g in lines[2].split()} == groups  # root's groups are gone
    assert lines[3:5] == [account.pw_dir, "0027"]
    assert lines[5:7] == [
        f"{account.pw_dir}|{account.pw_name}|from-file-wins|tab\there|single $quoted|"
        'double "quoted" $x|unquoted with escapes|exported|two',
        "lines",
    ]
    assert lines[7].split() == ["NoNewPrivs:", "1"]
    assert executor.status("who.service").active == "inactive"


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        ("ProtectSystem=strict\nPrivateTmp=yes", "PrivateTmp=, ProtectSystem= not supported"),
        ("DynamicUser=yes", "DynamicUser= not supported by the process executor"),
        ("CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet= not supported"),
        ("ReadOnlyPaths=/", "ReadOnlyPaths= not supported"),
        ("Type=forking", "Type=forking not supported"),
        ("User=no-such-user-here", "User=no-such-user-here: no such user"),
        ("Group=no-such-group-here", "Group=no-such-group-here: no such group"),
        ("UMask=999", "UMask=999 is not an octal mode"),
    ],
)
def test_what_it_cannot_honour_is_refused_before_anything_runs(
    executor: ProcessExecutor, tmp_path: Path, service: str, reason: str
) -> None:
    marker = tmp_path / "ran"
    executor.load(
        "boxed.service", f"[Service]\n{service}\nExecStartPre=/bin/touch {marker}\n"
        f"ExecStart=/bin/touch {marker}\n",
    )  # fmt: skip
    executor.start("boxed.service")
    wait_state(executor, "boxed.service", "failed")
    status = executor.status("boxed.service")
    assert status.reason.startswith("refused: ") and reason in status.reason, status.reason
    assert not marker.exists()
    assert any(reason in line for line in executor.journal("boxed.service", 5, False))


def test_the_working_directory_is_entered_as_the_user(
    executor: ProcessExecutor, tmp_path: Path
) -> None:
    closed = Path(tempfile.mkdtemp(prefix="corral-closed-"))  # 0700, root's
    try:
        (closed / "open").mkdir(mode=0o777)
        out = closed / "open" / "out"
        executor.load(
            "peek.service",
            f"[Service]\nUser=nobody\nWorkingDirectory={closed / 'open'}\n"
            f"ExecStart=/bin/sh -c 'id -u > {out}'\n",
        )
        executor.start("peek.service")
        wait_state(executor, "peek.service", "failed")
        assert "cannot enter WorkingDirectory" in executor.status("peek.service").reason
        assert not out.exists()
    finally:
        shutil.rmtree(closed)


def test_a_supervisor_that_is_not_root_runs_units_only_as_itself() -> None:
    """The supervisor itself as nobody (the system python: the venv's is root's)."""
    base = Path(tempfile.mkdtemp(prefix="corral-nonroot-"))
    nobody = pwd.getpwnam("nobody")
    try:
        os.chmod(base, 0o755)
        results = {}
        for user in ("root", "nobody", ""):
            unit_dir = base / (user or "none")
            unit_dir.mkdir()
            (unit_dir / "name").write_text("u.service")
            (unit_dir / "unit").write_text(
                f"[Service]\nType=oneshot\n{'User=' + user if user else ''}\n"
                f"ExecStart=/bin/sh -c 'id -u > {unit_dir}/out'\n"
            )
            os.chown(unit_dir, nobody.pw_uid, nobody.pw_gid)
            subprocess.run(
                ["/usr/bin/python3", "-m", "corral.fleet.supervisor", str(unit_dir)],
                env={"PYTHONPATH": os.path.dirname(os.path.dirname(_corral_dir()))},
                user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
                timeout=30, check=False, capture_output=True,
            )  # fmt: skip
            status = json.loads((unit_dir / "status.json").read_text())
            out = unit_dir / "out"
            results[user] = (status["active"], status["reason"], out.exists() and out.read_text())
        active, reason, ran = results["root"]
        assert active == "failed" and ran is False
        assert "User=root: the process executor runs as uid 65534, not root" in reason
        assert results["nobody"] == ("inactive", "", "65534\n")
        assert results[""] == ("inactive", "", "65534\n")
    finally:
        shutil.rmtree(base)


def _corral_dir() -> str:
    import corral

    return os.path.abspath(corral.__file__)
