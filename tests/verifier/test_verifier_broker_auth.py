"""The verifier on brokers that want credentials and TLS, as the agent's test_tls.py
does for the agent: batches in, verified, stored and answered; a refused login is one
clear error line and a non-zero exit, not a retry loop (issue 11 item 5).

The configuration is a real verifier.toml read by load_config, credentials partly
from the environment; the test's own clients connect with the same plumbing.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion
from verifier_builders import GatewayChain, batch_topic
from verifier_mqtt import ProcessWorker, ThreadWorker, wait_until

from edgeseal.plumbing.mqtt_settings import MqttSettings, TlsSettings, configure_client
from edgeseal.testing.broker import find_mosquitto
from edgeseal.testing.secure_broker import Pki, SecureBroker, make_pki, write_password_file
from edgeseal.verifier.config import VerifierConfig, load_config
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.topics import TopicKind, Topics

USER, PASSWORD = "verifier-1", "s3cret-from-env"
TEST_USER, TEST_PASSWORD = "test-client", "test-client-pw"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path, client_name=USER)


def start_broker(tmp_path: Path, pki: Pki | None) -> SecureBroker:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; scripts/test installs it with apt-get")
    passwords = write_password_file(
        tmp_path / "passwords", {USER: PASSWORD, TEST_USER: TEST_PASSWORD}
    )
    broker = SecureBroker(
        workdir=tmp_path / "broker", password_file=passwords, pki=pki, require_certificate=True
    )
    broker.workdir.mkdir()  # type: ignore[union-attr]
    broker.start()
    return broker


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = start_broker(tmp_path, None)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[SecureBroker]:
    broker = start_broker(tmp_path, pki)
    try:
        yield broker
    finally:
        broker.close()


class AuthClient:
    """Publishes batches and collects verdicts, logged in as TEST_USER."""

    def __init__(self, port: int, tls: TlsSettings | None) -> None:
        settings = MqttSettings(
            client_id="test-client",
            port=port,
            username=TEST_USER,
            password=TEST_PASSWORD,
            tls=tls,
            topic_prefix=Topics().prefix,
        )
        self.verdicts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-client")
        configure_client(client, settings)
        client.on_subscribe = lambda *_a: subscribed.set()
        client.on_message = self._on_message
        client.on_connect = lambda c, *_a: c.subscribe(
            Topics().every_gateway(TopicKind.VERDICT), qos=1
        )
        client.connect(settings.host, port)
        client.loop_start()
        self.client = client
        assert subscribed.wait(10), "the test client was not let in (credentials, TLS)"

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.verdicts.append(json.loads(msg.payload))

    def accepted(self) -> list[int]:
        with self._lock:
            return [v["seq"] for v in self.verdicts if v["verdict"] == "accepted"]

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def write_config(path: Path, port: int, gw: GatewayChain, mqtt_extra: dict[str, Any]) -> Path:
    data = {
        "mqtt": {"port": port, "client_id": "verifier-auth", "keepalive_s": 10, **mqtt_extra},
        "store": {"path": "v.sqlite", "synchronous": "normal"},
        "gateways": {gw.gateway_id: gw.enrolled_key.hex()},
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def verify_three_batches(
    config: VerifierConfig, gw: GatewayChain, port: int, tls: TlsSettings | None
) -> None:
    client = AuthClient(port, tls)
    worker = ThreadWorker(config)  # waits until the verifier has subscribed
    try:
        batches = gw.batches(3)
        for b in batches:
            client.publish(batch_topic("gw-auth"), b.to_payload())
        wait_until(lambda: client.accepted() == [1, 2, 3], 30, "3 accepted verdicts")
        with VerifierStore(config.store.path) as store:
            assert [s for _g, s, _h in store.accepted_batches()] == [1, 2, 3]
            assert store.reading_count() == 12 and store.quarantined() == []
    finally:
        assert worker.stop() == 0
        client.close()


def test_password_from_the_environment(tmp_path: Path, password_broker: SecureBroker) -> None:
    gw = GatewayChain("gw-auth")
    path = write_config(tmp_path / "verifier.toml", password_broker.port, gw, {"username": USER})
    config = load_config(path, env={"EDGESEAL_MQTT_PASSWORD": PASSWORD})
    verify_three_batches(config, gw, password_broker.port, None)


def test_tls_with_a_client_certificate_and_a_password(
    tmp_path: Path, tls_broker: SecureBroker, pki: Pki
) -> None:
    gw = GatewayChain("gw-auth")
    tls = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": "client.key"}
    extra = {"username": USER, "password": PASSWORD, "tls": tls}
    path = write_config(tmp_path / "verifier.toml", tls_broker.port, gw, extra)
    config = load_config(path, env={})
    assert config.mqtt.tls is not None and config.mqtt.tls.key_file == pki.client_key
    verify_three_batches(
        config, gw, tls_broker.port, TlsSettings(pki.ca, pki.client_cert, pki.client_key)
    )


@pytest.mark.parametrize(
    ("mqtt_extra", "hint"),
    [
        ({"username": USER, "password": "wrong"}, f"check the credentials of user {USER!r}"),
        ({}, "it wants credentials: set mqtt.username"),
    ],
    ids=["wrong-password", "no-credentials"],
)
def test_a_refused_login_is_one_error_line_and_a_nonzero_exit(
    tmp_path: Path, password_broker: SecureBroker, mqtt_extra: dict[str, Any], hint: str
) -> None:
    gw = GatewayChain("gw-auth")
    path = write_config(tmp_path / "verifier.toml", password_broker.port, gw, mqtt_extra)
    worker = ProcessWorker(path, "verifier-auth", tmp_path / "verifier.log")
    try:
        worker.process.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(f"the verifier kept running: {worker.log_text()[-3000:]}") from None
    status = worker.stop()  # already exited: collects the status, closes the log
    log = worker.log_text()
    refused = [line for line in log.splitlines() if "refused the connection" in line]
    assert status == 2, log
    assert len(refused) == 1, log
    assert "ERROR" in refused[0] and hint in refused[0] and refused[0].endswith("; stopping")
    assert "Traceback" not in log and "wrong" not in log
