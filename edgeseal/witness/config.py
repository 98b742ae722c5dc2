"""``witness.toml``: who the witness is, where it listens and keeps state, which logs it trusts.

    [witness]
    name = "witness.example.org/w1"       # its key name in cosignature lines
    key = "witness.pem"                   # Ed25519 PEM, mode 0600 (edgeseal keygen --out)
    state = "witness.sqlite"              # last cosigned checkpoint per log
    listen = "127.0.0.1:7380"             # host:port
    max_body_bytes = 65536                # add-checkpoint requests above this get 413
    request_timeout_s = 10

    [[log]]
    origin = "example.org/edgeseal/log"
    vkeys = ["example.org/edgeseal/log+1a2b3c4d+AR..."]   # or vkey = "..."

Relative paths are taken from the file's directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseal.plumbing.config_toml import ConfigError, Section, load_file
from edgeseal.tlog.note import NoteError, NoteVerifier, check_key_name


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    key_path: Path
    state_path: Path
    host: str
    port: int
    max_body_bytes: int
    request_timeout_s: float
    logs: Mapping[str, tuple[NoteVerifier, ...]]


def _listen(section: Section) -> tuple[str, int]:
    text = section.get_str("listen", "127.0.0.1:7380")
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{section.where('listen')} = {text!r}: use host:port")
    return host, int(port_text)


def _log_keys(section: Section) -> tuple[NoteVerifier, ...]:
    texts: list[object] = []
    if "vkey" in section:
        texts.append(section.required_str("vkey"))
    value = section.data.get("vkeys", [])
    if not isinstance(value, list):
        raise ConfigError(f"{section.where('vkeys')} must be a list of vkey strings")
    texts += value
    if not texts:
        raise ConfigError(f'{section.name} needs the log\'s key: vkey = "name+id+key"')
    keys = []
    for text in texts:
        if not isinstance(text, str):
            raise ConfigError(f"{section.where('vkeys')} holds {text!r}, not a vkey string")
        try:
            keys.append(NoteVerifier.from_vkey(text))
        except NoteError as exc:
            raise ConfigError(f"{section.name}: {exc}") from None
    return tuple(keys)


def parse_config(data: Mapping[str, Any], base: Path) -> WitnessConfig:
    top = Section.top(data, ("witness", "log"), base=base)
    w = top.table(
        "witness",
        ("name", "key", "state", "listen", "max_body_bytes", "request_timeout_s"),
        required=True,
    )
    name = w.required_str("name")
    try:
        check_key_name(name)
    except NoteError as exc:
        raise ConfigError(f"{w.where('name')}: {exc}") from None
    host, port = _listen(w)
    logs: dict[str, tuple[NoteVerifier, ...]] = {}
    for section in top.tables("log", ("origin", "vkey", "vkeys")):
        origin = section.required_str("origin")
        if not origin or any(c < " " for c in origin):
            raise ConfigError(f"{section.where('origin')} must be one non-empty line")
        if origin in logs:
            raise ConfigError(f"{section.where('origin')} = {origin!r} is configured twice")
        logs[origin] = _log_keys(section)
    if not logs:
        raise ConfigError("no [[log]] configured: the witness would refuse everything")
    return WitnessConfig(
        name=name,
        key_path=w.required_path("key"),
        state_path=w.get_path("state", "witness.sqlite"),
        host=host,
        port=port,
        max_body_bytes=w.get_int("max_body_bytes", 64 * 1024, 1024, 16 * 1024 * 1024),
        request_timeout_s=w.get_float("request_timeout_s", 10.0, 0.0, 600.0, low_open=True),
        logs=logs,
    )


def load_witness_config(path: Path) -> WitnessConfig:
    return load_file(path, "witness config", parse_config)
