"""`make demo`'s story run end to end on its process path (`--mode process`, so it does
not depend on nspawn): exit 0, each chapter's lines a user would look for, and no
process of the demo left running afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _leftovers(mark: str, work: Path) -> list[str]:
    """Processes that carry the demo's environment mark, name its directory or work in
    it (units get a clean environment, but run in their host's directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if mark.encode() in environ or str(work).encode() in cmdline or cwd.startswith(str(work)):
            found.append(f"{proc.name}: {cmdline.decode(errors='replace')}")
    return found


def _demo(args: list[str], mark: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", CORRAL_DEMO_TEST_MARK=mark)
    return subprocess.run(["bash", str(REPO / "scripts/demo.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def _check_story(out: str) -> None:
    """Each chapter's lines a user would look for."""
    # 1. the article's walk-through
    assert '{"action":"get","node":{"key":"/hello","value":"world"' in out
    assert re.search(r"\$ corralctl kv get /hello\S*\nyou\n", out), out[:3000]
    # 2. the bundle, checked
    assert "all files intact" in out
    assert re.search(r"corral \S+ for Python \d\.\d+: \d+ wheels", out)
    # 3. three hosts as processes, and the plain reason why not nspawn
    assert "Not running the hosts in systemd-nspawn instances" in out
    for host, rack in (("host1", "r1"), ("host2", "r2"), ("host3", "r3")):
        assert re.search(rf"{host}\s+127\.0\.0\.1\s+rack={rack}", out), host
    # 4. a template rendered by ansible-playbook read every host's key
    assert "peer host1 rack=r1\npeer host2 rack=r2\npeer host3 rack=r3  # this host" in out
    assert "greeting from the operator" in out
    # 5. m.service ran, printed, and moved off its dead host
    assert "Hello World" in out
    moved = re.search(r"m\.service moved from (host\d) to (host\d)", out)
    assert moved and moved.group(1) != moved.group(2), out[-6000:]
    files = out[out.index("$ corralctl unit files"):]
    assert re.search(rf"m\.service\s+\w+\s+launched\s+launched\s+{moved.group(2)}/", files)
    # 6. the release reached every host, one reboot at a time
    assert "stable: 1.1.0 serial" in out
    last_status = out[out.rindex("$ corralctl update status"):out.index("Every host runs 1.1.0")]
    assert len(re.findall(r"UPDATE_STATUS_IDLE\s+1\.1\.0", last_status)) == 3, last_status
    assert len(re.findall(r"good\s+1\.1\.0\s+slot b passed the health gate", out)) == 3
    assert out.rstrip().endswith("Done.")


@pytest.mark.timeout(300)
def test_the_whole_story_runs_as_processes_and_leaves_nothing_behind(tmp_path: Path):
    mark = uuid.uuid4().hex
    done = _demo(["--mode", "process", "--work", str(tmp_path)], mark, timeout=280)
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-3000:]
    try:
        _check_story(out)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- the demo printed ---\n{out[-15000:]}") from None
    assert _leftovers(mark, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_asking_for_nspawn_where_it_cannot_run_says_why_before_starting_anything(
        tmp_path: Path):  # fmt: skip
    done = _demo(["--mode", "nspawn", "--work", str(tmp_path)], uuid.uuid4().hex, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("demo: nspawn instances cannot run here: ")
    assert "Traceback" not in done.stderr
    assert "=== 1." not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_get_usage_before_starting_anything():
    done = _demo(["--mode", "bogus"], uuid.uuid4().hex, timeout=60)
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr and "Traceback" not in done.stderr
    assert "=== 1." not in done.stdout


@pytest.mark.timeout(180)
def test_ctrl_c_with_units_running_stops_every_process(tmp_path: Path):
    mark = uuid.uuid4().hex
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               CORRAL_DEMO_TEST_MARK=mark)  # fmt: skip
    log = tmp_path.parent / f"{tmp_path.name}.log"
    with open(log, "w") as out:
        story = subprocess.Popen([sys.executable, str(REPO / "scripts/demo/story.py"), "--mode",
                                  "process", "--no-bundle", "--work", str(tmp_path)],
                                 env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "The scheduler placed it on" not in log.read_text():
            assert story.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        story.send_signal(signal.SIGINT)
        assert story.wait(60) == 130
    finally:
        if story.poll() is None:
            story.kill()
    assert "interrupted: cleaning up" in log.read_text()
    assert _leftovers(mark, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(180)
def test_the_demo_playbook_passes_production_lint(tmp_path: Path):
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"))  # fmt: skip
    lint = subprocess.run([str(BIN / "ansible-lint"), "--nocolor", "playbooks/demo_kv.yml"],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=150)  # fmt: skip
    output = lint.stdout + lint.stderr
    assert lint.returncode == 0, output[-4000:]
    assert "Profile 'production' was required, and it passed" in output


def test_a_server_already_on_the_walk_throughs_port_is_refused_not_used(tmp_path: Path):
    # 4001 is the walk-through's own fixed port: whoever holds it, the demo must refuse
    with contextlib.ExitStack() as stack:
        holder = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # already held by someone else: same outcome
            holder.bind(("127.0.0.1", 4001))
            holder.listen()
        done = _demo(["--mode", "process", "--work", str(tmp_path)], uuid.uuid4().hex,
                     timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert re.search(r"port (2379|4001) on 127\.0\.0\.1 is in use", done.stderr), done.stderr
    assert "=== 1." not in done.stdout
