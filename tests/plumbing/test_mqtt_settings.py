"""The shared MQTT settings: parsed once for both sides, applied to paho one way,
and a broker's refusal told apart: retry, or stop and say what to fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edgeseal.plumbing.config_toml import ConfigError, Section
from edgeseal.plumbing.mqtt_settings import (
    MQTT_KEYS,
    MqttSettings,
    TlsSettings,
    configure_client,
    describe_refusal,
    parse_mqtt_settings,
    refusal_is_permanent,
)


@dataclass(frozen=True, kw_only=True)
class SideSettings(MqttSettings):
    topic_prefix: str = "p/v1"
    window: int = 1


def check_prefix(prefix: str) -> None:
    if "#" in prefix:
        raise ValueError(f"topic prefix {prefix!r}: no wildcards")


def parse(data: dict[str, object], env: dict[str, str] | None = None) -> SideSettings:
    m = Section("mqtt", data, MQTT_KEYS, base=Path("/etc/x"))
    defaults = SideSettings(client_id="side-1", window=5)
    return parse_mqtt_settings(m, defaults, env=env or {}, check_topic_prefix=check_prefix)


def test_the_side_type_and_its_defaults_come_back() -> None:
    s = parse({"port": 8883, "client_id": ""})
    assert isinstance(s, SideSettings) and s.window == 5 and s.client_id == "side-1"
    assert (s.host, s.port, s.protocol, s.keepalive_s, s.topic_prefix) == (
        "127.0.0.1",
        8883,
        "5",
        30,
        "p/v1",
    )
    assert s.v5 and s.broker == "127.0.0.1:8883"
    assert not parse({"protocol": "3.1.1"}).v5


def test_credentials_environment_first() -> None:
    s = parse({"username": "f", "password": "fp"}, {"EDGESEAL_MQTT_PASSWORD": "env-pw-9"})
    assert (s.username, s.password) == ("f", "env-pw-9") and "env-pw-9" not in repr(s)
    with pytest.raises(ConfigError, match="mqtt.username must be a string"):
        parse({"username": 7}, {"EDGESEAL_MQTT_USERNAME": "e"})
    with pytest.raises(ConfigError, match=r"mqtt\.topic_prefix: topic prefix 'a/#': no wildcards"):
        parse({"topic_prefix": "a/#"})


def test_tls_files_are_checked_and_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    m = Section("mqtt", {"tls": {"ca_file": "ca.pem"}}, MQTT_KEYS, base=tmp_path)
    s = parse_mqtt_settings(m, SideSettings(client_id="c"), env={}, check_topic_prefix=check_prefix)
    assert s.tls == TlsSettings(tmp_path / "ca.pem")
    m = Section("mqtt", {"tls": {"ca_file": "ca.pem", "key_file": "k"}}, MQTT_KEYS, base=tmp_path)
    with pytest.raises(ConfigError, match=r"\[mqtt\.tls\]: cert_file and key_file go together"):
        parse_mqtt_settings(m, SideSettings(client_id="c"), env={}, check_topic_prefix=check_prefix)


def test_configure_client_applies_credentials_tls_and_backoff(tmp_path: Path) -> None:
    import ssl

    from edgeseal.testing.secure_broker import make_pki

    pki = make_pki(tmp_path)
    s = SideSettings(
        client_id="c",
        username="u",
        password="pw",
        reconnect_min_s=0.2,
        reconnect_max_s=7.4,
        tls=TlsSettings(pki.ca, pki.client_cert, pki.client_key),
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c")
    configure_client(client, s)
    assert (client.username, client.password) == ("u", "pw")
    assert (client._reconnect_min_delay, client._reconnect_max_delay) == (1, 7)
    context = client._ssl_context
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED


def reason(name: str) -> ReasonCode:
    return ReasonCode(PacketTypes.CONNACK, name)


@pytest.mark.parametrize(
    ("name", "permanent"),
    [
        ("Not authorized", True),
        ("Bad user name or password", True),
        ("Client identifier not valid", True),
        ("Unsupported protocol version", True),
        ("Banned", True),
        ("Server unavailable", False),
        ("Server busy", False),
        ("Quota exceeded", False),
        ("Connection rate exceeded", False),
        ("Unspecified error", False),
    ],
)
def test_which_refusals_a_retry_cannot_cure(name: str, permanent: bool) -> None:
    assert refusal_is_permanent(reason(name)) is permanent


def test_a_refusal_names_what_to_check() -> None:
    anonymous = SideSettings(client_id="c", host="b.example", port=8883)
    text = describe_refusal(anonymous, reason("Not authorized"))
    assert text.startswith("MQTT broker b.example:8883 refused the connection: Not authorized;")
    assert "set mqtt.username (or EDGESEAL_MQTT_USERNAME)" in text
    user = SideSettings(client_id="c", username="v1", password="secret")
    text = describe_refusal(user, reason("Bad user name or password"))
    assert "user 'v1'" in text and "EDGESEAL_MQTT_PASSWORD" in text and "secret" not in text
    assert "mqtt.client_id ('c')" in describe_refusal(user, reason("Client identifier not valid"))
    assert describe_refusal(user, reason("Server busy")).endswith(
        "refused the connection: Server busy"
    )


def test_unusable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    s = SideSettings(client_id="c", tls=TlsSettings(tmp_path / "ca.pem"))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c")
    with pytest.raises(ConfigError, match=r"^mqtt\.tls: cannot use .*ca\.pem: "):
        configure_client(client, s)
