"""`make demo`'s story run end to end on both paths: as systemd-nspawn instances (the
default `--mode auto` on a machine that can run them, as CI can) and as processes
(`--mode process`, the fallback): exit 0, each chapter's lines a user would look for,
and nothing of the demo left afterwards (processes, instances, network namespaces,
mounts, files)."""

from __future__ import annotations

import contextlib
import hashlib
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
    # CORRAL_CACHE_DIR stays: the instances' root file system is the one Molecule cached
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "CORRAL_")) or k == "CORRAL_CACHE_DIR"}  # fmt: skip
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", CORRAL_DEMO_TEST_MARK=mark)
    return subprocess.run(["bash", str(REPO / "scripts/demo.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def _check_walk_through(out: str) -> None:
    assert '{"action":"get","node":{"key":"/hello","value":"world"' in out
    assert re.search(r"\$ corralctl kv get /hello\S*\nyou\n", out), out[:3000]


def _check_story(out: str) -> None:
    """Each chapter's lines a user would look for (hosts as processes)."""
    _check_walk_through(out)
    assert "=== 2. The offline bundle (skipped: --no-bundle) ===" in out
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


def _check_nspawn_story(out: str) -> None:
    """Each chapter's lines a user would look for (hosts as nspawn instances)."""
    _check_walk_through(out)
    # 2. the bundle, built and checked
    assert "all files intact" in out
    assert re.search(r"corral \S+ for Python \d\.\d+: \d+ wheels", out)
    # 3. three instances with only lo and the bridge, deployed by site.yml
    assert "Not running the hosts in systemd-nspawn instances" not in out
    ip = out[out.index("[host1]$ ip -brief address"):]
    assert re.search(r"\nhost0@\S+\s+UP\s+10\.213\.47\.1/24", ip[:400]), ip[:400]
    assert len(re.findall(r"^\S+ +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0", out, re.M)) >= 6
    for i, rack in ((1, "r1"), (2, "r2"), (3, "r3")):
        assert re.search(rf"\s10\.213\.47\.{i}\s+rack={rack}", out), rack
    # 4. a template rendered on host3 from every host's key, read from its own store
    assert "peer host1 rack=r1\npeer host2 rack=r2\npeer host3 rack=r3  # this host" in out
    assert "greeting from the operator" in out
    # 5. m.service ran under systemd, and moved off its stopped host
    assert "Hello World" in out
    moved = re.search(r"m\.service moved from (host\d) to (host\d)", out)
    assert moved and moved.group(1) != moved.group(2), out[-6000:]
    assert f"[{moved.group(2)}]$ systemctl is-active m.service\nactive\n" in out
    # 6. every host rebooted into 1.1.0, never two at once
    assert "stable: 1.1.0 serial" in out
    assert re.search(r"exited with status 133 \(reboot\): booting it again", out)
    assert re.search(r"Every host rebooted once \(host\d, host\d, host\d\), at most 1 down", out)
    after = out[out.rindex("[host1]$ corralctl update status"):]
    assert len(re.findall(r"UPDATE_STATUS_IDLE\s+1\.1\.0", after[:1500])) == 3, after[:1500]
    assert len(re.findall(r'"booted":"b".*"b":\{[^}]*"version":"1\.1\.0"', after)) == 3, after
    assert out.rstrip().endswith("Done.")


def _nspawn_left(names: tuple[str, ...]) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"systemd-nspawn") and any(
                f"--machine={n}".encode() in argv for n in names):  # fmt: skip
            found.append(proc.name)
    return found


@pytest.mark.timeout(720)
def test_the_whole_story_runs_in_nspawn_instances_and_leaves_nothing_behind(tmp_path: Path):
    names = ("host1", "host2", "host3")
    assert not _nspawn_left(names), "instances named host1..host3 already run here"
    mark = uuid.uuid4().hex
    namespaces_before = set(_netns())
    done = _demo(["--work", str(tmp_path)], mark, timeout=700)  # --mode auto
    out = done.stdout
    assert done.returncode == 0, out[-8000:] + done.stderr[-3000:]
    try:
        _check_nspawn_story(out)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- the demo printed ---\n{out[-20000:]}") from None
    assert _nspawn_left(names) == []
    assert {ns for ns in _netns() if ns.startswith("corral-demo-")} - namespaces_before == set()
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
    assert _leftovers(mark, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def _netns() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


@pytest.mark.timeout(300)
def test_the_whole_story_runs_as_processes_and_leaves_nothing_behind(tmp_path: Path):
    mark = uuid.uuid4().hex
    done = _demo(["--mode", "process", "--no-bundle", "--work", str(tmp_path)], mark,
                 timeout=280)  # fmt: skip
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
    # a machine without systemd-nspawn, mmdebstrap, ip and nsenter: PATH holds the rest
    tools = tmp_path.parent / f"{tmp_path.name}-bin"
    tools.mkdir()
    for directory in (Path("/usr/bin"), Path("/usr/sbin")):
        for program in directory.iterdir():
            link = tools / program.name
            if program.name not in ("systemd-nspawn", "mmdebstrap", "ip", "nsenter") and not (
                    link.is_symlink()):  # fmt: skip
                link.symlink_to(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{tools}")
    done = subprocess.run(["/bin/bash", str(REPO / "scripts/demo.sh"), "--mode", "nspawn",
                           "--work", str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("demo: nspawn instances cannot run here: ")
    assert "systemd-nspawn is not installed" in done.stderr
    assert "Traceback" not in done.stderr
    assert "=== 1." not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_get_usage_before_starting_anything():
    done = _demo(["--mode", "bogus"], uuid.uuid4().hex, timeout=60)
    assert done.returncode == 2
    assert "invalid choice: 'bogus'" in done.stderr and "Traceback" not in done.stderr
    assert "=== 1." not in done.stdout


def _interrupt_story(work: Path, env: dict[str, str], args: list[str], reached: str, *,
                     start: float, stop: float) -> str:
    """Runs the story in `work` until its output shows `reached` (within `start` seconds),
    then presses Ctrl-C: it must exit 130 within `stop` seconds. Returns its output."""
    log = work.parent / f"{work.name}.log"
    with open(log, "w") as out:
        story = subprocess.Popen([sys.executable, str(REPO / "scripts/demo/story.py"), *args,
                                  "--work", str(work)],
                                 env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + start
        while reached not in log.read_text():
            assert story.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        story.send_signal(signal.SIGINT)
        assert story.wait(stop) == 130
    finally:
        if story.poll() is None:
            story.kill()
    return log.read_text()


@pytest.mark.timeout(180)
def test_ctrl_c_with_units_running_stops_every_process(tmp_path: Path):
    mark = uuid.uuid4().hex
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               CORRAL_DEMO_TEST_MARK=mark)  # fmt: skip
    log = _interrupt_story(tmp_path, env, ["--mode", "process", "--no-bundle"],
                           "The scheduler placed it on", start=120, stop=60)  # fmt: skip
    assert "interrupted: cleaning up" in log
    assert _leftovers(mark, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(240)
def test_ctrl_c_with_instances_running_removes_them_and_their_network(tmp_path: Path):
    names = ("host1", "host2", "host3")
    assert not _nspawn_left(names), "instances named host1..host3 already run here"
    # Interrupted before anything is deployed, so a bundle that only passes its own
    # checksums will do (building a real one is the whole-story test's job).
    bundle = tmp_path.parent / f"{tmp_path.name}-bundle"
    (bundle / "collections").mkdir(parents=True)
    manifest = '{"corral_version": "0", "python": "3.11", "wheels": [], "debs": []}\n'
    (bundle / "manifest.json").write_text(manifest)
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    (bundle / "SHA256SUMS").write_text(f"{digest}  manifest.json\n")
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "CORRAL_")) or k == "CORRAL_CACHE_DIR"}  # fmt: skip
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", CORRAL_DEMO_TEST_MARK=mark)
    namespaces_before = set(_netns())
    log = _interrupt_story(tmp_path, env, ["--mode", "nspawn", "--bundle", str(bundle)],
                           "[host1]$ ip -brief address", start=180, stop=120)  # fmt: skip
    assert "interrupted: cleaning up" in log
    assert _nspawn_left(names) == []
    assert {ns for ns in _netns() if ns.startswith("corral-demo-")} - namespaces_before == set()
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
    assert _leftovers(mark, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(180)
def test_the_demo_playbooks_pass_production_lint(tmp_path: Path):
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"))  # fmt: skip
    lint = subprocess.run([str(BIN / "ansible-lint"), "--nocolor", "playbooks/demo_kv.yml",
                           "scripts/demo/boot_loader.yml"],
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
