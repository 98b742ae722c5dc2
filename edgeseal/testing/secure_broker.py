"""A private mosquitto that wants credentials, TLS, or both, and the certificates for it.

``make_pki`` writes a fresh CA, a server certificate for 127.0.0.1 and a client
certificate; ``SecureBroker`` is ``MosquittoBroker`` with a password file
(``allow_anonymous false``) and, when given a PKI, a TLS listener instead of plain TCP.
Used by the agent's and the verifier's broker tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeseal.testing import certificates
from edgeseal.testing.broker import BrokerError, MosquittoBroker


@dataclass(frozen=True)
class Pki:
    """PEM files: the CA, the broker's certificate and key, a client's certificate and key."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    *,
    ip: str | None = None,
) -> x509.Certificate:
    builder = (
        certificates.builder(certificates.common_name(subject), issuer, key, _validity())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _validity() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(minutes=5), now + dt.timedelta(days=1)


def make_pki(directory: Path, *, client_name: str = "edgeseal-test-client") -> Pki:
    """A fresh CA, a server certificate for 127.0.0.1 and a client certificate."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = certificates.ca_certificate(
        certificates.common_name("edgeseal test CA"), ca_key, _validity(), digital_signature=True
    )
    server = _certificate("127.0.0.1", server_key, ca_key, ca.subject, ip="127.0.0.1")
    client = _certificate(client_name, client_key, ca_key, ca.subject)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    pem = serialization.Encoding.PEM
    return Pki(
        ca=_write_pem(directory / "ca.pem", ca.public_bytes(pem)),
        server_cert=_write_pem(directory / "server.pem", server.public_bytes(pem)),
        server_key=_write_pem(directory / "server.key", key_pem(server_key)),
        client_cert=_write_pem(directory / "client.pem", client.public_bytes(pem)),
        client_key=_write_pem(directory / "client.key", key_pem(client_key)),
    )


def write_password_file(path: Path, users: dict[str, str]) -> Path:
    """A mosquitto password file (hashed by mosquitto_passwd) for ``users``."""
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    path.write_text("", encoding="utf-8")
    for user, password in users.items():
        try:
            subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BrokerError(
                f"mosquitto_passwd failed ({exc}); install it with 'apt-get install mosquitto'"
            ) from None
    path.chmod(0o600)
    return path


@dataclass
class SecureBroker(MosquittoBroker):
    """Only the users of ``password_file`` get in; with ``pki``, only over TLS.

    ``require_certificate``: the client must also show a certificate of the PKI's CA.
    """

    password_file: Path | None = None
    pki: Pki | None = None
    require_certificate: bool = False

    def _write_config(self) -> Path:
        assert self.workdir is not None
        lines = [
            # As root mosquitto would switch to the user "mosquitto", which cannot enter
            # a test's private directory to read the keys; ignored when not root.
            "user root",
            f"listener {self.port} {self.host}",
            "persistence false",
            "max_queued_messages 0",
            "log_dest stderr",
        ]
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.pki is not None:
            lines += [
                f"cafile {self.pki.ca}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                f"require_certificate {'true' if self.require_certificate else 'false'}",
            ]
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf
