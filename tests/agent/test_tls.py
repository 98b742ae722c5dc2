"""TLS (CA, client certificate) and username/password from the environment, against a real broker."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from agent_helpers import Subscriber, check_stream, make_key, start_agent, write_config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeseal.agent.outbox import Outbox
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device

GW = "gw-tls"
USER, PASSWORD = "gw-tls-user", "s3cret-from-env"


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_pki(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all fresh."""
    now = dt.datetime.now(dt.timezone.utc)

    def cert(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer_key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name | None,
        *,
        ca: bool = False,
        ip: bool = False,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if ca:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                critical=True)  # fmt: skip
            b = b.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        else:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        if ip:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)  # fmt: skip
        return b.sign(issuer_key, hashes.SHA256())

    def key_pem(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())  # fmt: skip

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("edgeseal test CA", ca_key, ca_key, None, ca=True)
    server = cert("127.0.0.1", server_key, ca_key, ca.subject, ip=True)
    client = cert(GW, client_key, ca_key, ca.subject)
    pem = serialization.Encoding.PEM
    return {
        "ca": _write_pem(d / "ca.pem", ca.public_bytes(pem)),
        "server_cert": _write_pem(d / "server.pem", server.public_bytes(pem)),
        "server_key": _write_pem(d / "server.key", key_pem(server_key)),
        "client_cert": _write_pem(d / "client.pem", client.public_bytes(pem)),
        "client_key": _write_pem(d / "client.key", key_pem(client_key)),
    }


class TlsBroker(MosquittoBroker):
    """The shared broker helper with a TLS listener that wants a client certificate and a password."""

    pki: dict[str, Path]
    password_file: Path

    def _write_config(self) -> Path:
        assert self.workdir is not None
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join([
            # Run as root, mosquitto would switch to user "mosquitto", which cannot
            # enter pytest's private tmp directory to read the keys; as non-root this is ignored.
            "user root",
            f"listener {self.port} {self.host}",
            f"cafile {self.pki['ca']}",
            f"certfile {self.pki['server_cert']}",
            f"keyfile {self.pki['server_key']}",
            "require_certificate true",
            "allow_anonymous false",
            f"password_file {self.password_file}",
            "persistence false",
            "log_dest stderr",
        ]) + "\n", encoding="utf-8")  # fmt: skip
        return conf


@pytest.fixture
def tls_broker(tmp_path: Path) -> TlsBroker:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    pki = make_pki(tmp_path)
    pwfile = tmp_path / "passwords"
    subprocess.run([tool, "-c", "-b", str(pwfile), USER, PASSWORD], check=True, capture_output=True)
    broker = TlsBroker(workdir=tmp_path / "tlsbroker")
    broker.workdir.mkdir()  # type: ignore[union-attr]
    broker.pki, broker.password_file = pki, pwfile
    broker.start()
    yield broker  # type: ignore[misc]
    broker.close()


def test_tls_client_certificate_and_password_from_environment(
    tmp_path: Path, tls_broker: TlsBroker
) -> None:
    pki = tls_broker.pki
    key = make_key(tmp_path / "gw.key")
    tls = (f'username = "{USER}"\n[mqtt.tls]\nca_file = "{pki["ca"]}"\n'
           f'cert_file = "{pki["client_cert"]}"\nkey_file = "{pki["client_key"]}"\n')  # fmt: skip
    sub = Subscriber(tls_broker.host, tls_broker.port)
    sub.client.tls_set(ca_certs=str(pki["ca"]), certfile=str(pki["client_cert"]),
                       keyfile=str(pki["client_key"]), tls_version=ssl.PROTOCOL_TLS_CLIENT)  # fmt: skip
    sub.client.username_pw_set(USER, PASSWORD)
    log = tmp_path / "agent.log"
    with sub, simulated_device(device_id=31, rate=200, link=tmp_path / "ttyDEV31") as dev:
        # The [mqtt] table comes last in the helper's file, so the TLS lines land in it.
        cfg = write_config(tmp_path / "agent.toml", gateway_id=GW, key_path=tmp_path / "gw.key",
                           outbox_path=tmp_path / "outbox.sqlite", broker_port=tls_broker.port,
                           ports=[dev.port], extra="", mqtt_extra=tls)  # fmt: skip
        # Wrong password: the broker refuses, the agent says so and keeps everything.
        agent = start_agent(cfg, log, extra_env={"EDGESEAL_MQTT_PASSWORD": "wrong"})
        time.sleep(2.5)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        assert "refused the connection" in log.read_text()
        ob = Outbox(tmp_path / "outbox.sqlite", gateway_id=GW, max_bytes=1 << 20)
        kept = ob.batch_count
        ob.close()
        assert kept >= 1 and not sub.snapshot()
        # Right password from the environment: the kept batches and new ones arrive.
        agent = start_agent(cfg, log, extra_env={"EDGESEAL_MQTT_PASSWORD": PASSWORD})
        time.sleep(2.5)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        dev.stop()
        acked = {
            (31, b["boot_id"], s) for b in dev.summary["boots"] for s in range(1, b["acked"] + 1)
        }
    report = check_stream(sub.snapshot(), key.public_key, gateway_id=GW)
    assert acked <= report.reading_keys() and len(report.batches) > kept
