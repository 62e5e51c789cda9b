"""Where corralctl kv finds the store (--endpoint, else $CORRAL_ENDPOINT), what it says
when the store cannot be reached (exit 2, as etcdctl), and bad usage (exit 1)."""

from __future__ import annotations

import socket
import subprocess
import time

from ctl_diff import CORRALCTL, Pair

from corral.testing import free_port


def _corralctl(pair: Pair, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRALCTL, *args], env=env, capture_output=True, text=True, timeout=20, check=False
    )


def test_endpoint_from_the_environment(pair: Pair) -> None:
    env = dict(pair.env, CORRAL_ENDPOINT=pair.subject_url)
    done = _corralctl(pair, "kv", "set", "/e", "from env", env=env)
    assert (done.stdout, done.stderr, done.returncode) == ("from env\n", "", 0)
    dead = f"http://127.0.0.1:{free_port()}"
    env = dict(pair.env, CORRAL_ENDPOINT=dead)
    done = _corralctl(pair, "--endpoint", pair.subject_url, "kv", "get", "/e", env=env)
    assert (done.stdout, done.returncode) == ("from env\n", 0)  # the flag wins
    done = _corralctl(pair, "kv", "get", "/e", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("Error:  ") and dead in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_store_exits_2_as_etcdctl(pair: Pair) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    ours = _corralctl(pair, "--endpoint", dead, "kv", "get", "/k", env=pair.env)
    ref = subprocess.run(
        ["etcdctl", "--endpoints", dead, "get", "/k"],
        env=pair.env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (ours.returncode, ref.returncode) == (2, 2)
    assert ours.stdout == ref.stdout == ""
    assert ours.stderr.startswith("Error:  ") and ref.stderr.startswith("Error:  ")
    assert dead in ours.stderr and "refused" in ours.stderr


def test_a_dead_endpoint_in_the_list_is_skipped(pair: Pair) -> None:
    pair.check("set", "/k", "v")
    dead = f"http://127.0.0.1:{free_port()}"
    env = dict(pair.env, CORRAL_ENDPOINT=f"{dead},{pair.subject_url}")
    done = _corralctl(pair, "kv", "get", "/k", env=env)
    assert (done.stdout, done.returncode) == ("v\n", 0)


def test_bad_usage_exits_1_as_etcdctl(pair: Pair) -> None:
    for args in (
        ["set", "--ttl", "soon", "/k", "v"],
        ["rm", "--with-index", "x", "/k"],
        ["get", "--no-such-flag", "/k"],
    ):
        ref, ours = pair.run(*args)
        assert (ours.code, ref.code) == (1, 1), args
        assert ours.stdout == "" and "Traceback" not in ours.stderr


def test_timeout_from_the_environment_as_the_ansible_plugins_read_it(pair: Pair) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        done = _corralctl(pair, "--endpoint", url, "kv", "get", "/k",
                          env=dict(pair.env, CORRAL_TIMEOUT="500ms"))  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert time.monotonic() - started < 4  # not the default 5 s
    finally:
        silent.close()
    bad = _corralctl(pair, "kv", "get", "/k", env=dict(pair.env, CORRAL_TIMEOUT="soon"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("corralctl: error: $CORRAL_TIMEOUT: bad duration 'soon': ")
    assert bad.stderr.count("\n") == 1


def test_an_unreadable_password_file_is_an_error_not_a_traceback(pair: Pair, tmp_path) -> None:
    missing = tmp_path / "no-such-file"
    done = _corralctl(pair, "--endpoint", pair.subject_url, "--username", "root",
                      "--password-file", str(missing), "kv", "get", "/k", env=pair.env)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"Error:  cannot read password file {missing}")
