"""Configuration parsing: every value checked once, errors name the key, secrets from the env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeseal.agent.config import ConfigError, load_config, parse_config
from edgeseal.plumbing.config_toml import read_toml


def minimal(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "gateway": {"id": "gw-1", "key_path": "keys/gw.key"},
        "outbox": {"path": "outbox.sqlite"},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return data


def parse(data: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return parse_config(data, base=Path("/etc/edgeseal"), env=env or {})


def test_defaults_and_relative_paths() -> None:
    cfg = parse(minimal())
    assert cfg.gateway.key_path == Path("/etc/edgeseal/keys/gw.key")
    assert cfg.outbox.path == Path("/etc/edgeseal/outbox.sqlite")
    assert cfg.mqtt.protocol == "5" and cfg.mqtt.port == 1883 and cfg.mqtt.tls is None
    assert cfg.mqtt.client_id == "edgeseal-agent-gw-1"
    assert cfg.mqtt.topics.batch("gw-1") == "edgeseal/v1/gw-1/batch"
    assert cfg.batch.max_readings == 256 and cfg.batch.max_delay_s == 2.0
    assert cfg.metrics_port == 0 and cfg.serial == ()


def test_full_config_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    path = tmp_path / "agent.toml"
    path.write_text(
        """
[gateway]
id = "plant_7-a"
key_path = "/var/lib/edgeseal/gw.key"
next_key_path = "new.key"

[[serial]]
path = "/dev/ttyUSB0"
[[serial]]
path = "/dev/ttyUSB1"
baudrate = 921600

[batch]
max_readings = 500
max_delay_s = 0.5

[outbox]
path = "/var/lib/edgeseal/outbox.sqlite"
max_bytes = 1_000_000

[mqtt]
host = "broker.example"
port = 8883
protocol = "3.1.1"
username = "gw"
password = "file-secret"
[mqtt.tls]
ca_file = "ca.pem"
cert_file = "c.pem"
key_file = "k.pem"

[devices]
link_keys_path = "link-keys"

[metrics]
port = 9108
"""
    )
    cfg = load_config(path, env={"EDGESEAL_MQTT_PASSWORD": "env-secret"})
    assert cfg.gateway.next_key_path == tmp_path / "new.key"
    assert [p.path for p in cfg.serial] == ["/dev/ttyUSB0", "/dev/ttyUSB1"]
    assert cfg.serial[1].baudrate == 921600
    assert cfg.batch.max_readings == 500 and cfg.outbox.max_bytes == 1_000_000
    assert cfg.mqtt.protocol == "3.1.1" and cfg.mqtt.port == 8883
    assert cfg.mqtt.password == "env-secret", "the environment overrides the file for secrets"
    assert cfg.mqtt.tls is not None and cfg.mqtt.tls.cert_file == tmp_path / "c.pem"
    assert cfg.metrics_port == 9108
    assert cfg.devices.link_keys_path == tmp_path / "link-keys"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outbox": {"path": "o"}}, "section [gateway] is missing"),
        (minimal(gateway={"id": ""}), "gateway.id '' is invalid"),
        (minimal(gateway={"id": "a" * 65}), "gateway.id"),
        (minimal(gateway={"key_path": 5}), "gateway.key_path must be a string"),
        (minimal(gateway={"next_key_path": "keys/gw.key"}), "must differ"),
        (minimal(gateway={"colour": "red"}), "[gateway] has unknown key(s) colour"),
        (minimal(extra={}), "unknown section(s) extra"),
        (minimal(batch={"max_readings": 0}), "batch.max_readings = 0 is outside"),
        (minimal(batch={"max_readings": 70000}), "batch.max_readings = 70000"),
        (minimal(batch={"max_readings": "10"}), "batch.max_readings must be an integer"),
        (minimal(batch={"max_delay_s": 0}), "batch.max_delay_s = 0"),
        (minimal(batch={"max_delay_s": True}), "batch.max_delay_s must be a number"),
        (minimal(outbox={"max_bytes": 10}), "outbox.max_bytes = 10 is outside"),
        (minimal(outbox={"path": ""}), "outbox.path must not be empty"),
        (minimal(mqtt={"port": 0}), "mqtt.port = 0"),
        (minimal(mqtt={"protocol": "4"}), "mqtt.protocol = '4'"),
        (minimal(mqtt={"topic_prefix": "a/#"}), "mqtt.topic_prefix"),
        (minimal(mqtt={"password": "p"}), "no username"),
        (minimal(mqtt={"reconnect_min_s": 5, "reconnect_max_s": 1}), "reconnect_max_s"),
        (minimal(mqtt={"tls": {"ca_file": "/nonexistent/ca.pem"}}), "mqtt.tls.ca_file"),
        (minimal(mqtt={"tls": {}}), "mqtt.tls.ca_file is required"),
        (minimal(serial={"path": "x"}), "serial must be an array of tables"),
        (minimal(serial=[{"baudrate": 9600}]), "serial[0].path is required"),
        (minimal(serial=[{"path": "/dev/a"}, {"path": "/dev/a"}]), "listed twice"),
        (minimal(serial=[{"path": "/dev/a", "baudrate": 1}]), "serial[0].baudrate = 1"),
        (minimal(metrics={"port": 70000}), "metrics.port = 70000"),
        (minimal(metrics={"host": "0.0.0.0"}), "[metrics] has unknown key(s) host"),
        (minimal(devices={"link_keys_path": 7}), "devices.link_keys_path must be a string"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(data)
    assert message in str(err.value)


def test_username_from_environment() -> None:
    cfg = parse(minimal(), env={"EDGESEAL_MQTT_USERNAME": "u", "EDGESEAL_MQTT_PASSWORD": "p"})
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("u", "p")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    bad.write_text("gateway = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    bad.write_text('[gateway]\nid = "x"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: gateway\.key_path is required"):
        load_config(bad)


def test_shipped_example_parses(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "agent.toml"
    data = read_toml(example, "agent config")
    tls = data["mqtt"].pop("tls")  # its certificate files exist only on a real gateway
    cfg = parse_config(data, base=example.parent, env={})
    assert cfg.gateway.id == "plant7-gw01" and cfg.metrics_port == 9108
    for name in ("ca_file", "cert_file", "key_file"):
        (tmp_path / name).write_text("pem")
        tls[name] = str(tmp_path / name)
    data["mqtt"]["tls"] = tls
    assert parse_config(data, base=example.parent, env={}).mqtt.tls is not None


@pytest.mark.parametrize(
    "key_hex",
    [
        "01" + "00" * 31,  # the identity point: every signature "verifies" under it
        "ff" * 32,  # not a canonical encoding
        "00" * 32,  # a point of small order
    ],
)
def test_a_verifier_key_that_is_no_valid_point_is_refused(key_hex: str) -> None:
    # The agent forgets batches on verdicts signed by this key: one that no signature
    # can verify under (or, worse, a small-order one) must stop the agent at start.
    with pytest.raises(ConfigError, match=r"verifier\.public_key .*not a valid Ed25519 public key"):
        parse(minimal(verifier={"public_key": key_hex}))
