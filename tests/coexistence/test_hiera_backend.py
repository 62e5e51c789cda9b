"""Puppet reads Corral's keys: `corral::kv_lookup_key`, a Hiera 5 backend, with
Debian's puppet against a real corral-store."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from coexistence_support import MODULES, Puppet
from security_pki import make_pki

from corral.testing import StoreServer


def _ctl(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "corral.ctl.main", "--endpoint", url, *args],
                   check=True, capture_output=True, timeout=60)  # fmt: skip


def _hiera(tmp_path: Path, **options: object) -> str:
    path = tmp_path / "hiera.yaml"
    path.write_text(yaml.safe_dump({"version": 5, "hierarchy": [
        {"name": "corral", "lookup_key": "corral::kv_lookup_key", "options": options},
    ]}))  # fmt: skip
    return str(path)


def test_lookup_reads_a_key_written_with_corralctl(
    puppet: Puppet, store: StoreServer, tmp_path: Path
) -> None:
    _ctl(store.url, "kv", "set", "/config/ntp/server", "ntp1.example.test")
    _ctl(store.url, "kv", "set", "/config/app/settings", '{"workers": 4}')
    hiera = _hiera(tmp_path, endpoints=[store.url], prefix="/config")
    got = puppet("lookup", "--hiera_config", hiera, "ntp::server", "--render-as", "s")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "ntp1.example.test"
    # a directory is a hash of its children; json: true parses values
    hiera = _hiera(tmp_path, endpoints=[store.url], prefix="/config", json=True)
    got = puppet("lookup", "--hiera_config", hiera, "app", "--render-as", "json")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == '{"settings":{"workers":4}}'


def test_a_missing_key_takes_the_default_or_fails(
    puppet: Puppet, store: StoreServer, tmp_path: Path
) -> None:
    hiera = _hiera(tmp_path, endpoints=[store.url], prefix="/config")
    got = puppet("lookup", "--hiera_config", hiera, "no::such", "--default", "fallback",
                 "--render-as", "s")  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "fallback"
    got = puppet("lookup", "--hiera_config", hiera, "no::such")
    assert got.returncode == 1 and got.stdout == ""  # puppet lookup's "not found"


def test_an_unreachable_store_is_an_error_naming_the_key_and_the_store(
    puppet: Puppet, tmp_path: Path
) -> None:
    hiera = _hiera(tmp_path, endpoints=["http://127.0.0.1:1"], prefix="/config")
    got = puppet("lookup", "--hiera_config", hiera, "ntp::server", "--default", "x")
    assert got.returncode != 0  # never a silent default when the store cannot answer
    assert "corral: cannot read /config/ntp/server" in got.stderr, got.stderr
    assert "127.0.0.1:1" in got.stderr


def test_a_store_certificate_from_another_ca_is_refused(
    puppet: Puppet, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    server = StoreServer(tmp_path / "store",
                         ["--cert-file", str(pki.server[0]), "--key-file", str(pki.server[1])],
                         listen="http://127.0.0.1:0,https://127.0.0.1:0").start()  # fmt: skip
    try:
        _ctl(server.urls[0], "kv", "set", "/config/ntp/server", "ntp1")
        tls = server.urls[1]
        good = _hiera(tmp_path, endpoints=[tls], prefix="/config", ca_file=str(pki.ca))
        got = puppet("lookup", "--hiera_config", good, "ntp::server", "--render-as", "s")
        assert got.returncode == 0 and got.stdout.strip() == "ntp1", got.stderr
        wrong = _hiera(tmp_path, endpoints=[tls], prefix="/config", ca_file=str(pki.other_ca))
        got = puppet("lookup", "--hiera_config", wrong, "ntp::server", "--default", "x")
        assert got.returncode != 0
        assert "certificate verify failed" in got.stderr, got.stderr
    finally:
        server.stop()


def test_key_names_cannot_leave_the_prefix(puppet: Puppet, store: StoreServer,
                                           tmp_path: Path) -> None:  # fmt: skip
    _ctl(store.url, "kv", "set", "/secret", "s3cret")
    hiera = _hiera(tmp_path, endpoints=[store.url], prefix="/config")
    # quoted, a Hiera key may hold what Puppet's names may not
    for key in ("'x/../../secret'", "'..'", "'a::..'"):
        got = puppet("lookup", "--hiera_config", hiera, key, "--default", "x")
        assert got.returncode != 0 and "s3cret" not in got.stdout
        assert "is not a key name Corral can look up" in got.stderr, got.stderr


def test_with_auth_on_the_lookup_uses_its_credentials(
    puppet: Puppet, store: StoreServer, tmp_path: Path
) -> None:
    password = tmp_path / "root.pw"
    password.write_text("s3cret\n")
    _ctl(store.url, "user", "add", "root", "--new-password-file", str(password))
    _ctl(store.url, "--username", "root", "--password-file", str(password),
         "kv", "set", "/config/ntp/server", "ntp1")  # fmt: skip
    as_root = ("--username", "root", "--password-file", str(password))
    _ctl(store.url, *as_root, "role", "layout")  # guest: nothing, unlike etcd's default
    _ctl(store.url, *as_root, "auth", "enable")
    good = _hiera(tmp_path, endpoints=[store.url], prefix="/config", username="root",
                  password_file=str(password))  # fmt: skip
    got = puppet("lookup", "--hiera_config", good, "ntp::server", "--render-as", "s")
    assert got.returncode == 0 and got.stdout.strip() == "ntp1", got.stderr
    anonymous = _hiera(tmp_path, endpoints=[store.url], prefix="/config")
    got = puppet("lookup", "--hiera_config", anonymous, "ntp::server", "--default", "x")
    assert got.returncode != 0 and "HTTP 401" in got.stderr, got.stderr


def test_the_module_parses(puppet: Puppet, tmp_path: Path) -> None:
    manifests = sorted((MODULES / "corral").rglob("*.pp"))
    assert manifests  # the examples at least
    # an example is a site manifest: validated as one, outside the module path
    copies = [shutil.copy(p, tmp_path / f"{i}-{p.name}") for i, p in enumerate(manifests)]
    got = puppet("parser", "validate", *map(str, copies))
    assert got.returncode == 0, got.stderr
    for ruby in sorted((MODULES / "corral" / "lib").rglob("*.rb")):
        got = subprocess.run(["ruby", "-wc", str(ruby)], capture_output=True, text=True)
        assert got.returncode == 0 and got.stderr == "", got.stderr
