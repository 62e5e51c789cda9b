"""TLS for corral-store's listeners, with etcd's flags and meaning.

`--cert-file/--key-file` make `https://` listeners possible; `--trusted-ca-file` (or
`--client-cert-auth` with it) makes the handshake require a client certificate signed
by that CA, so a client without one is refused before any HTTP is read. `http://` and
`https://` listeners can be mixed, as etcd allows: a loopback plain-HTTP URL for local
tools and a TLS URL for the network. Client-cert auth applies to TLS listeners only.

`EtcdClientTLS` is the other direction: how the etcd backend's gateway reaches
`https://` etcd members (`--etcd-ca-file`, and its own `--etcd-cert-file/--etcd-key-file`
when etcd requires client certificates). The server's certificate is always verified.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class TLSConfigError(ValueError):
    """TLS flags that cannot work together or files that cannot be loaded."""


@dataclass(frozen=True)
class ServerTLS:
    """The listeners' TLS settings, etcd's flags."""

    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False

    @property
    def requires_client_cert(self) -> bool:
        # etcd: a trusted CA file alone turns client-cert auth on
        return bool(self.trusted_ca_file) or self.client_cert_auth

    def check(self, schemes: set[str]) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise TLSConfigError("--cert-file and --key-file go together")
        if "https" in schemes and not self.cert_file:
            raise TLSConfigError("an https:// listener needs --cert-file and --key-file")
        if self.trusted_ca_file and not self.cert_file:
            raise TLSConfigError("--trusted-ca-file needs --cert-file/--key-file (TLS)")
        if self.client_cert_auth and not self.trusted_ca_file:
            raise TLSConfigError("--client-cert-auth needs --trusted-ca-file")
        if self.cert_file and "https" not in schemes:
            raise TLSConfigError("--cert-file given but no https:// listener")

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
            if self.requires_client_cert:
                ctx.load_verify_locations(cafile=self.trusted_ca_file)
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"cannot load TLS files: {exc}") from None
        return ctx


@dataclass(frozen=True)
class EtcdClientTLS:
    """The TLS settings for the etcd v3 backend's connections to etcd."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.ca_file or self.cert_file or self.key_file)

    def context(self) -> ssl.SSLContext:
        if bool(self.cert_file) != bool(self.key_file):
            raise TLSConfigError("--etcd-cert-file and --etcd-key-file go together")
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file or None)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"cannot load the etcd TLS files: {exc}") from None
        return ctx
