"""The TLS options of every plugin against a real etcd serving HTTPS and asking for a
client certificate: ca_cert, client_cert/client_key and validate_certs do what they say,
through the lookup's keep-alive transport and through the modules' open_url."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    Client,
    StoreUnavailable,
)
from ansible_collections.corral.cloud.plugins.module_utils.open_url_transport import (
    OpenUrlTransport,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from corral.testing import ManagedProcess, free_port, wait_until


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _issue(
    name: str, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey, ca: bool = False, usage: object = None,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pki(base: Path) -> Pki:
    base.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corral test CA")])
    ca = _issue("corral test CA", ca_name, ca_key, ca_key, ca=True)
    pki = Pki(*(base / n for n in ("ca.pem", "server.pem", "server.key",
                                   "client.pem", "client.key")))  # fmt: skip
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, usage in (
        (pki.server_cert, pki.server_key, ExtendedKeyUsageOID.SERVER_AUTH),
        (pki.client_cert, pki.client_key, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(cert_path.stem, ca_name, ca_key, key, usage=usage)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
    return pki


@pytest.fixture
def tls_store(tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    """etcd 3.4 on https://127.0.0.1:PORT, requiring a client certificate from the CA."""
    pki = _pki(tmp_path / "pki")
    url, peer = f"https://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    etcd = ManagedProcess(
        [shutil.which("etcd") or "/usr/bin/etcd", "--name", "tls",
         "--data-dir", str(tmp_path / "etcd"), "--enable-v2=true",
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
         "--initial-cluster", f"tls={peer}", "--initial-cluster-state", "new",
         "--cert-file", str(pki.server_cert), "--key-file", str(pki.server_key),
         "--client-cert-auth", "--trusted-ca-file", str(pki.ca), "--log-level", "warn"],
        tmp_path / "etcd.log",
    )  # fmt: skip
    etcd.spawn()
    client = Client(url, timeout=1, ca_file=str(pki.ca), cert_file=str(pki.client_cert),
                    key_file=str(pki.client_key))  # fmt: skip
    try:
        wait_until(lambda: etcd.alive() and client.health(), 20, "etcd over TLS")
        client.set("/tls/greeting", "hello")
        yield url, pki
    finally:
        client.close()
        etcd.stop()


def test_lookup_reads_over_tls_with_a_client_certificate(tls_store):
    url, pki = tls_store
    kv = lookup_loader.get("corral.cloud.kv")
    options = {"endpoint": url, "ca_cert": str(pki.ca), "client_cert": str(pki.client_cert),
               "client_key": str(pki.client_key)}  # fmt: skip
    assert kv.run(["/tls/greeting"], {}, **options) == ["hello"]
    # without the CA the server is not trusted; validate_certs=false skips that check
    untrusted = {k: v for k, v in options.items() if k != "ca_cert"}
    with pytest.raises(AnsibleLookupError, match="cannot reach store"):
        kv.run(["/tls/greeting"], {}, **untrusted)
    assert kv.run(["/tls/greeting"], {}, validate_certs=False, **untrusted) == ["hello"]


def test_lookup_options_come_from_variables_too(tls_store):
    url, pki = tls_store
    variables = {"corral_endpoint": url, "corral_ca_cert": str(pki.ca),
                 "corral_client_cert": str(pki.client_cert),
                 "corral_client_key": str(pki.client_key)}  # fmt: skip
    assert lookup_loader.get("corral.cloud.kv").run(["/tls/greeting"], variables) == ["hello"]


def test_open_url_transport_uses_the_tls_options(tls_store):
    url, pki = tls_store
    good = OpenUrlTransport(str(pki.ca), str(pki.client_cert), str(pki.client_key))
    assert Client(url, transport=good).get("/tls/greeting").node.value == "hello"
    no_client_cert = OpenUrlTransport(ca_path=str(pki.ca))
    with pytest.raises(StoreUnavailable):
        Client(url, transport=no_client_cert).get("/tls/greeting")
    unverified = OpenUrlTransport(None, str(pki.client_cert), str(pki.client_key), False)
    assert Client(url, transport=unverified).get("/tls/greeting").node.value == "hello"


def _silent_listener() -> socket.socket:
    """A port that accepts connections and never answers."""
    return socket.create_server(("127.0.0.1", 0))


REPO = Path(__file__).resolve().parents[4]
PLAY = """\
- name: Lookup options from every channel
  hosts: tlshost
  gather_facts: false
  tasks:
    - name: Read through the channels given
      ansible.builtin.assert:
        that:
          - lookup('corral.cloud.kv', '/tls/greeting') == 'hello'
    - name: A keyword beats every other channel
      block:
        - name: Read from a store that never answers
          ansible.builtin.debug:
            msg: "{{ lookup('corral.cloud.kv', '/tls/greeting', endpoint=silent) }}"
      rescue:
        - name: Keep the message
          ansible.builtin.set_fact:
            silent_failure: "{{ ansible_failed_result.msg }}"
    - name: Show the failure
      ansible.builtin.debug:
        var: silent_failure
"""


def _playbook(tmp_path: Path, inventory: str, config: str, **env: str) -> str:
    """Runs PLAY with this inventory, ansible.cfg and environment; returns its output."""
    collections = tmp_path / "collections"
    if not collections.exists():
        (collections / "ansible_collections" / "corral").mkdir(parents=True)
        (collections / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    run.mkdir()
    (run / "inventory.ini").write_text(inventory)
    (run / "ansible.cfg").write_text(config)
    (run / "play.yml").write_text(PLAY)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    base.update(ANSIBLE_CONFIG=str(run / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_LOCAL_TEMP=str(run / "tmp"),
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}", **env)
    done = subprocess.run(["ansible-playbook", "-i", str(run / "inventory.ini"), "play.yml"],
                          cwd=run, env=base, capture_output=True, text=True, timeout=240,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_lookup_options_come_from_ansible_cfg_environment_and_inventory(tls_store, tmp_path):
    """Each documented channel of every connection option, in Ansible's order: a keyword
    beats inventory variables, which beat the environment, which beats ansible.cfg."""
    url, pki = tls_store
    dead = f"https://127.0.0.1:{free_port()}"
    silent = _silent_listener()
    silent_url = f"https://127.0.0.1:{silent.getsockname()[1]}"
    host = (f"tlshost ansible_connection=local ansible_python_interpreter={sys.executable}"
            f" silent={silent_url}")  # fmt: skip
    try:
        # ansible.cfg gives the TLS files and the timeout; the environment the endpoint
        config = (f"[corral]\nendpoint = {dead}\nca_cert = {pki.ca}\n"
                  f"client_cert = {pki.client_cert}\nclient_key = {pki.client_key}\n"
                  "timeout = 1.5\n")  # fmt: skip
        out = _playbook(tmp_path, host + "\n", config, CORRAL_ENDPOINT=url)
        assert f"store {silent_url} did not answer for key /tls/greeting within 1.5s" in out, out
        # the environment alone, with validate_certs off instead of the CA
        out = _playbook(tmp_path, host + "\n", "[defaults]\n", CORRAL_ENDPOINT=url,
                        CORRAL_CLIENT_CERT=str(pki.client_cert),
                        CORRAL_CLIENT_KEY=str(pki.client_key), CORRAL_VALIDATE_CERTS="false",
                        CORRAL_TIMEOUT="2.5")  # fmt: skip
        assert "within 2.5s" in out, out
        # inventory variables beat the environment and ansible.cfg
        inventory = (f"{host} corral_endpoint={url} corral_ca_cert={pki.ca}"
                     f" corral_client_cert={pki.client_cert} corral_client_key={pki.client_key}"
                     " corral_timeout=3.5\n")  # fmt: skip
        out = _playbook(tmp_path, inventory, f"[corral]\nendpoint = {dead}\ntimeout = 9\n",
                        CORRAL_ENDPOINT=dead, CORRAL_CA_CERT="/nonexistent/ca.pem")
        assert "within 3.5s" in out, out
    finally:
        silent.close()


def _corralctl(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """corralctl kv get, with no TLS flag: the files come from the environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    code = "import sys; from corral.ctl.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, "--endpoint", url, "kv", "get",
                           "/tls/greeting"], env={**base, **env}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_every_tool_reads_the_tls_files_from_the_same_variables(tls_store, run_module,
                                                                monkeypatch):  # fmt: skip
    """CORRAL_CA_FILE, CORRAL_CERT_FILE and CORRAL_KEY_FILE, as --ca-file, --cert-file
    and --key-file are named, for corralctl and the daemons' client, the lookup and the
    modules alike."""
    url, pki = tls_store
    env = {"CORRAL_CA_FILE": str(pki.ca), "CORRAL_CERT_FILE": str(pki.client_cert),
           "CORRAL_KEY_FILE": str(pki.client_key)}  # fmt: skip
    done = _corralctl(url, **env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert lookup_loader.get("corral.cloud.kv").run(["/tls/greeting"], {}, endpoint=url) == [
        "hello"
    ]
    from ansible_collections.corral.cloud.plugins.modules import kv_info

    read = run_module(kv_info.main, {"endpoint": url, "key": "/tls/greeting"})
    assert read.get("failed", False) is False and read["value"] == "hello"
    assert not read.get("deprecations")


def test_the_names_the_plugins_documented_before_still_work_with_a_warning(
    tls_store, run_module, monkeypatch, tmp_path
):
    url, pki = tls_store
    old = {"CORRAL_CA_CERT": str(pki.ca), "CORRAL_CLIENT_CERT": str(pki.client_cert),
           "CORRAL_CLIENT_KEY": str(pki.client_key)}  # fmt: skip
    done = _corralctl(url, **old)
    assert (done.returncode, done.stdout) == (0, "hello\n"), done.stderr
    assert "$CORRAL_CA_CERT is deprecated and will stop working: set $CORRAL_CA_FILE" in done.stderr
    assert "$CORRAL_CLIENT_KEY is deprecated" in done.stderr
    # a module on the managed host: the task's result carries the deprecation
    out = _adhoc(tmp_path, ["-m", "corral.cloud.kv_info", "-a",
                            f"endpoint={url} key=/tls/greeting"], **old)  # fmt: skip
    assert '"value": "hello"' in out, out
    assert "DEPRECATION WARNING" in out and "$CORRAL_CLIENT_CERT is deprecated" in out, out
    # the new name wins when both are set
    for name, value in old.items():
        monkeypatch.setenv(name, value)
    from ansible_collections.corral.cloud.plugins.modules import kv_info

    monkeypatch.setenv("CORRAL_CA_FILE", "/nonexistent/ca.pem")
    refused = run_module(kv_info.main, {"endpoint": url, "key": "/tls/greeting"})
    assert refused["failed"] is True


def _adhoc(tmp_path: Path, args: list[str], **env: str) -> str:
    """`ansible localhost` with this collection and environment; returns its output."""
    collections = tmp_path / "collections"
    if not collections.exists():
        (collections / "ansible_collections" / "corral").mkdir(parents=True)
        (collections / "ansible_collections" / "corral" / "cloud").symlink_to(REPO)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    base.update(ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_COLLECTIONS_PATH=str(collections),
                ANSIBLE_LOCAL_TEMP=str(tmp_path / "adhoc-tmp"),
                ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}", **env)
    done = subprocess.run(["ansible", "localhost", "-c", "local", *args], env=base,
                          capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_the_lookup_warns_about_a_deprecated_name_in_a_play(tls_store, tmp_path):
    url, pki = tls_store
    host = f"tlshost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    silent = _silent_listener()
    try:
        out = _playbook(tmp_path, host.replace("\n", f" silent=https://127.0.0.1:"
                                               f"{silent.getsockname()[1]}\n"),
                        "[defaults]\n", CORRAL_ENDPOINT=url, CORRAL_CA_CERT=str(pki.ca),
                        CORRAL_CERT_FILE=str(pki.client_cert),
                        CORRAL_KEY_FILE=str(pki.client_key), CORRAL_TIMEOUT="1")  # fmt: skip
    finally:
        silent.close()
    assert "DEPRECATION WARNING" in out and "CORRAL_CA_CERT" in out, out
    assert "CORRAL_CA_FILE" in out, out
