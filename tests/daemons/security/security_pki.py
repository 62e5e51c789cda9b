"""Throwaway certificates for the security tests, made with `cryptography` at run time
(no private key is ever committed): a CA, a server certificate for 127.0.0.1 signed by
it, client certificates whose common name is a store user, and the bad cases: an
expired server certificate, a self-signed one, and a second CA nobody trusts."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


@dataclass
class Authority:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def authority(cn: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(_name(cn), key, cert)


def issue(
    dest: Path,
    cn: str,
    ca: Authority | None,
    *,
    server: bool = True,
    expired: bool = False,
) -> tuple[Path, Path]:
    """Write `<dest>.crt` and `<dest>.key`; `ca=None` makes it self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - 10 * DAY, now - DAY) if expired else (now - DAY, now + 30 * DAY)
    # etcd's JSON gateway dials etcd itself with the server certificate, so with
    # --client-cert-auth a server certificate must be good for client auth as well
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usage.append(ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.name if ca else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    cert = builder.sign(ca.key if ca else key, hashes.SHA256())
    crt, pem = dest.with_suffix(".crt"), dest.with_suffix(".key")
    crt.write_bytes(_cert_pem(cert))
    pem.write_bytes(_key_pem(key))
    pem.chmod(0o600)
    return crt, pem


@dataclass
class Pki:
    ca: Path  # trusted by clients and by the store for client certificates
    other_ca: Path  # a CA that signed nothing the store presents
    server: tuple[Path, Path]
    expired_server: tuple[Path, Path]
    self_signed_server: tuple[Path, Path]
    root_client: tuple[Path, Path]  # CN=root
    stranger_client: tuple[Path, Path]  # signed by other_ca


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca, other = authority("Corral test CA"), authority("Someone else's CA")
    (directory / "ca.crt").write_bytes(_cert_pem(ca.cert))
    (directory / "other-ca.crt").write_bytes(_cert_pem(other.cert))
    return Pki(
        ca=directory / "ca.crt",
        other_ca=directory / "other-ca.crt",
        server=issue(directory / "server", "127.0.0.1", ca),
        expired_server=issue(directory / "expired", "127.0.0.1", ca, expired=True),
        self_signed_server=issue(directory / "self-signed", "127.0.0.1", None),
        root_client=issue(directory / "root-client", "root", ca, server=False),
        stranger_client=issue(directory / "stranger", "root", other, server=False),
    )
