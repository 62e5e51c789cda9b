"""Where corralctl finds the store: --endpoint or etcdctl's --endpoints, else
$CORRAL_ENDPOINT, else etcdctl's $ETCDCTL_ENDPOINTS, else the default; an address
without a scheme is refused with the fix, not read as a URL of scheme `127.0.0.1`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from corral.client import Client
from corral.testing import StoreServer, free_port


def _ctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "ETCDCTL_"))}
    return subprocess.run([sys.executable, "-m", "corral.ctl.main", *args],
                          env={**base, **env}, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_precedence_flag_corral_endpoint_etcdctl_endpoints(store: StoreServer) -> None:
    with Client(store.url) as c:
        c.set("/k", "v")
    dead = f"http://127.0.0.1:{free_port()}"
    assert _ctl("--endpoints", store.url, "kv", "get", "/k").stdout == "v\n"
    assert _ctl("kv", "get", "/k", ETCDCTL_ENDPOINTS=store.url).stdout == "v\n"
    done = _ctl("kv", "get", "/k", CORRAL_ENDPOINT=dead, ETCDCTL_ENDPOINTS=store.url)
    assert done.returncode == 2 and dead in done.stderr  # ours before etcdctl's
    done = _ctl("--endpoints", store.url, "kv", "get", "/k", CORRAL_ENDPOINT=dead,
                ETCDCTL_ENDPOINTS=dead)  # fmt: skip
    assert done.stdout == "v\n"


def test_an_endpoint_without_a_scheme_is_refused_with_the_fix(store: StoreServer) -> None:
    bare = store.url.removeprefix("http://")
    for done in (_ctl("--endpoint", f"{store.url},{bare}", "unit", "list"),
                 _ctl("kv", "get", "/k", ETCDCTL_ENDPOINTS=bare)):  # fmt: skip
        assert done.returncode == 1 and done.stdout == ""
        assert f"endpoint {bare!r} is not a URL" in done.stderr
        assert f"http://{bare}" in done.stderr and "Traceback" not in done.stderr


def test_kv_output_before_the_group_as_etcdctl_takes_it(store: StoreServer) -> None:
    with Client(store.url) as c:
        c.set("/j", "v")
    done = _ctl("--endpoint", store.url, "-o", "json", "kv", "get", "/j")
    assert json.loads(done.stdout)["node"]["value"] == "v"
    done = _ctl("--endpoint", store.url, "-o", "json", "kv", "-o", "simple", "get", "/j")
    assert done.stdout == "v\n"  # the later -o wins
    done = _ctl("--endpoint", store.url, "kv", "-o", "nope", "get", "/j")
    assert "Unsupported output format: nope" in done.stderr  # etcdctl's answer, unchanged


def test_exec_watch_still_takes_its_command() -> None:
    """exec-watch's own `command` argument is no subcommand name (its list once broke -o)."""
    dead = f"http://127.0.0.1:{free_port()}"
    done = _ctl("--endpoint", dead, "-o", "json", "kv", "exec-watch", "/x", "--", "true")
    assert done.returncode == 2 and "cannot reach the store" in done.stderr
    assert "Traceback" not in done.stderr
