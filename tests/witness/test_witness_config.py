"""witness.toml: every key checked, errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.tlog.note import NoteSigner
from edgeseal.witness.config import parse_config

VKEY = NoteSigner("example.org/log", Ed25519PrivateKey.generate()).verifier_key()


def _config(**witness: Any) -> dict[str, Any]:
    return {
        "witness": {"name": "w.example/1", "key": "k.pem", **witness},
        "log": [{"origin": "example.org/log", "vkey": VKEY}],
    }


def test_defaults_and_relative_paths() -> None:
    cfg = parse_config(_config(), Path("/etc/witness"))
    assert cfg.key_path == Path("/etc/witness/k.pem")
    assert cfg.state_path == Path("/etc/witness/witness.sqlite")
    assert (cfg.host, cfg.port) == ("127.0.0.1", 7380)
    assert [k.verifier_key() for k in cfg.logs["example.org/log"]] == [VKEY]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_config(listen="localhost"), "host:port"),
        (_config(listen="127.0.0.1:70000"), "host:port"),
        (_config(name="has space"), "space"),
        (_config(colour="blue"), "unknown key"),
        (_config(request_timeout_s=0), "request_timeout_s"),
        ({"witness": _config()["witness"], "log": [{"origin": "o"}]}, "needs the log's key"),
        ({"witness": _config()["witness"], "log": [{"origin": "o", "vkey": "x+y+z"}]}, "log[0]"),
        (
            {"witness": _config()["witness"], "log": [_config()["log"][0]] * 2},
            "configured twice",
        ),
        ({"log": _config()["log"]}, "[witness] is missing"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data, Path("/etc/witness"))
