"""TLS (CA, client certificate) and username/password from the environment, against a real broker."""

from __future__ import annotations

import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import Subscriber, check_stream, make_key, start_agent, write_config

from edgeseal.agent.outbox import Outbox
from edgeseal.testing.devices import simulated_device
from edgeseal.testing.secure_broker import SecureBroker, make_pki, write_password_file

GW = "gw-tls"
USER, PASSWORD = "gw-tls-user", "s3cret-from-env"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    """A TLS listener that wants a client certificate and a password."""
    broker = SecureBroker(
        workdir=tmp_path / "tlsbroker",
        password_file=write_password_file(tmp_path / "passwords", {USER: PASSWORD}),
        pki=make_pki(tmp_path, client_name=GW),
        require_certificate=True,
    )
    broker.workdir.mkdir()  # type: ignore[union-attr]
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def test_tls_client_certificate_and_password_from_environment(
    tmp_path: Path, tls_broker: SecureBroker
) -> None:
    pki = tls_broker.pki
    assert pki is not None
    key = make_key(tmp_path / "gw.key")
    tls = (
        f'username = "{USER}"\n[mqtt.tls]\nca_file = "{pki.ca}"\n'
        f'cert_file = "{pki.client_cert}"\nkey_file = "{pki.client_key}"\n'
    )
    sub = Subscriber(tls_broker.host, tls_broker.port)
    sub.client.tls_set(
        ca_certs=str(pki.ca),
        certfile=str(pki.client_cert),
        keyfile=str(pki.client_key),
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    sub.client.username_pw_set(USER, PASSWORD)
    log = tmp_path / "agent.log"
    with sub, simulated_device(device_id=31, rate=200, link=tmp_path / "ttyDEV31") as dev:
        # The [mqtt] table comes last in the helper's file, so the TLS lines land in it.
        cfg = write_config(
            tmp_path / "agent.toml",
            gateway_id=GW,
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=tls_broker.port,
            ports=[dev.port],
            extra="",
            mqtt_extra=tls,
        )
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
        acked = dev.acked_keys()
    report = check_stream(sub.snapshot(), key.public_key, gateway_id=GW)
    assert acked <= report.reading_keys() and len(report.batches) > kept
