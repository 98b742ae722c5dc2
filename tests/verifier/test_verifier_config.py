"""verifier.toml parsing: good files load, every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseal.plumbing.config_toml import read_toml
from edgeseal.verifier.config import _SECTIONS as SECTIONS
from edgeseal.verifier.config import ConfigError, config_from_mapping, load_config

KEY = "11" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "verifier.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "verifier.toml"
    config = load_config(example)
    assert config.mqtt.batch_subscription == "$share/verifiers/edgeseal/v1/+/batch"
    assert config.store.synchronous == "full"
    assert all(len(k) == 32 for k in config.gateways.values())


def test_values_and_relative_store_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[mqtt]\nport = 1884\nclient_id = "w-2"\ngroup = ""\n[store]\npath = "db/v.sqlite"\n'
        f'[gateways]\ngw-1 = "{KEY}"\n',
    )
    config = load_config(path)
    assert config.mqtt.port == 1884 and config.mqtt.client_id == "w-2"
    assert config.mqtt.batch_subscription == "edgeseal/v1/+/batch"  # no group: plain subscription
    assert config.store.path == tmp_path / "db" / "v.sqlite"
    assert config.gateways == {"gw-1": bytes.fromhex(KEY)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nport = 0\n", r"mqtt\.port = 0"),
        ('[mqtt]\nport = "1883"\n', r"mqtt\.port"),
        (
            '[mqtt]\nhots = "x"\n',
            r"\[mqtt\] has unknown key\(s\) hots; known keys: client_id, group",
        ),
        ('[mqtt]\ngroup = "a/b"\n', r"mqtt\.group"),
        ('[store]\nsynchronous = "off"\n', r"store\.synchronous"),
        ('[gateways]\ngw-1 = "abcd"\n', r"gateways\.gw-1: public key is 2 bytes"),
        ('[gateways]\ngw-1 = "zz"\n', r"not hexadecimal"),
        (f'[gateways]\n"gw/1" = "{KEY}"\n', r"gateway id is 1 to 64"),
        ("[mqtt\n", r"not valid TOML"),
        (
            "stray = 1\n",
            # every section the verifier knows, in order (other issues add theirs)
            r"unknown section\(s\) stray; known: " + ", ".join(sorted(SECTIONS)),
        ),
        ("[store]\nbusy_timeout_s = 0\n", r"store\.busy_timeout_s = 0 is outside \(0, 3600\]"),
        ('[store]\npath = ""\n', r"store\.path must not be empty"),
        (
            '[mqtt]\npassword = "p"\n',
            r"password is set but no username \(mqtt\.username or EDGESEAL",
        ),
        ("[mqtt]\nreconnect_min_s = 5\nreconnect_max_s = 1\n", r"mqtt\.reconnect_max_s must be >="),
        ('[mqtt.tls]\ncert_file = "c.pem"\n', r"mqtt\.tls\.ca_file is required"),
        (
            '[mqtt.tls]\nca_file = "absent.pem"\n',
            r"mqtt\.tls\.ca_file = '.*absent\.pem' is not a readable",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read verifier config"):
        load_config(tmp_path / "absent.toml")


def test_mqtt_311_needs_a_plain_subscription(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MQTT 3.1.1 has no shared subscriptions"):
        load_config(write(tmp_path, '[mqtt]\nprotocol = "3.1.1"\n'))
    config = load_config(write(tmp_path, '[mqtt]\nprotocol = "3.1.1"\ngroup = ""\n'))
    assert (
        config.mqtt.protocol == "3.1.1" and config.mqtt.batch_subscription == "edgeseal/v1/+/batch"
    )
    with pytest.raises(ConfigError, match=r"mqtt.protocol = \'4\'"):
        load_config(write(tmp_path, '[mqtt]\nprotocol = "4"\n'))


def test_metrics_port(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[metrics]\nport = 9311\n")).metrics_port == 9311
    assert load_config(write(tmp_path, "")).metrics_port == 0
    with pytest.raises(ConfigError, match=r"metrics\.port = 70000"):
        load_config(write(tmp_path, "[metrics]\nport = 70000\n"))


def test_defaults_of_the_connection_settings(tmp_path: Path) -> None:
    mqtt = load_config(write(tmp_path, ""), env={}).mqtt
    assert (mqtt.host, mqtt.port, mqtt.protocol, mqtt.client_id) == (
        "127.0.0.1",
        1883,
        "5",
        "edgeseal-verifier",
    )
    assert mqtt.username is None and mqtt.password is None and mqtt.tls is None
    assert (mqtt.reconnect_min_s, mqtt.reconnect_max_s) == (1.0, 10.0)
    assert (mqtt.group, mqtt.session_expiry_s, mqtt.keepalive_s) == ("verifiers", 3600, 30)


def test_credentials_tls_and_backoff(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("pem")
    text = (
        '[mqtt]\nport = 8883\nusername = "verifier-1"\npassword = "from-file"\n'
        "reconnect_min_s = 2\nreconnect_max_s = 30\n"
        '[mqtt.tls]\nca_file = "ca.pem"\ncert_file = "client.pem"\nkey_file = "client.key"\n'
    )
    mqtt = load_config(write(tmp_path, text), env={}).mqtt
    assert (mqtt.username, mqtt.password) == ("verifier-1", "from-file")
    assert mqtt.tls is not None and mqtt.tls.ca_file == tmp_path / "ca.pem"
    assert mqtt.tls.key_file == tmp_path / "client.key"
    assert (mqtt.reconnect_min_s, mqtt.reconnect_max_s) == (2.0, 30.0)
    assert "from-file" not in repr(mqtt), "the password must not reach a log line"
    # The environment overrides the file, as for the agent.
    env = {"EDGESEAL_MQTT_USERNAME": "u-env", "EDGESEAL_MQTT_PASSWORD": "p-env"}
    mqtt = load_config(write(tmp_path, text), env=env).mqtt
    assert (mqtt.username, mqtt.password) == ("u-env", "p-env")
    mqtt = load_config(write(tmp_path, ""), env=env).mqtt
    assert (mqtt.username, mqtt.password) == ("u-env", "p-env")


def test_the_shipped_example_with_its_tls_files_present(tmp_path: Path) -> None:
    from edgeseal.verifier.config import config_from_mapping

    example = Path(__file__).resolve().parents[2] / "examples" / "verifier.toml"
    data = read_toml(example, "verifier config")
    tls = data["mqtt"].setdefault("tls", {})
    for name in ("ca_file", "cert_file", "key_file"):  # they exist only on a real server
        (tmp_path / name).write_text("pem")
        tls[name] = str(tmp_path / name)
    config = config_from_mapping(data, example.parent, env={})
    assert config.mqtt.tls is not None and config.mqtt.tls.cert_file == tmp_path / "cert_file"


def test_the_nats_password_comes_from_the_environment_given_to_the_config() -> None:
    data = {"bus": {"kind": "nats", "username": "verifier"}}
    config = config_from_mapping(data, env={"EDGESEAL_NATS_PASSWORD": "s3cret"})
    assert config.bus.username == "verifier" and config.bus.password == "s3cret"
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigError, match="EDGESEAL_NATS_PASSWORD"):
        config_from_mapping(data, env={})
