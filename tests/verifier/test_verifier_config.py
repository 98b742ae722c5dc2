"""verifier.toml parsing: good files load, every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseal.verifier.config import ConfigError, load_config

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
        ('[mqtt]\nhots = "x"\n', r"unknown key\(s\) in \[mqtt\]: hots"),
        ('[mqtt]\ngroup = "a/b"\n', r"mqtt\.group"),
        ('[store]\nsynchronous = "off"\n', r"store\.synchronous"),
        ('[gateways]\ngw-1 = "abcd"\n', r"gateways\.gw-1: public key is 2 bytes"),
        ('[gateways]\ngw-1 = "zz"\n', r"not hexadecimal"),
        (f'[gateways]\n"gw/1" = "{KEY}"\n', r"gateway id is 1 to 64"),
        ("[mqtt\n", r"not valid TOML"),
        ("stray = 1\n", r"unknown key\(s\) in \[top level\]: stray"),
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
    assert config.mqtt.protocol == "3.1.1" and config.mqtt.batch_subscription == "edgeseal/v1/+/batch"
    with pytest.raises(ConfigError, match=r'mqtt.protocol = \'4\''):
        load_config(write(tmp_path, '[mqtt]\nprotocol = "4"\n'))


def test_metrics_port(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[metrics]\nport = 9311\n")).metrics_port == 9311
    assert load_config(write(tmp_path, "")).metrics_port == 0
    with pytest.raises(ConfigError, match=r"metrics\.port = 70000"):
        load_config(write(tmp_path, "[metrics]\nport = 70000\n"))
