"""The verifier's configuration: one TOML file parsed once into typed, frozen objects.

Every mistake is reported with the TOML key that holds it, so an operator can fix
the file without reading this code. The layout is documented in docs/verifier.md
and shown in examples/verifier.toml.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from edgeseal.wire.record import GATEWAY_ID_RE
from edgeseal.wire.topics import DEFAULT_PREFIX, TopicError, TopicKind, Topics, check_prefix

_SYNCHRONOUS = ("full", "normal")
_GROUP_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or has a bad value (message says which)."""


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    # "5" (default): shared subscriptions and session expiry. "3.1.1" for brokers that
    # speak nothing newer: one worker only (group must be ""), persistent session.
    protocol: str = "5"
    client_id: str = "edgeseal-verifier"
    # Shared-subscription group; workers with the same group split the batches.
    # Empty: a plain subscription (every worker would see every batch).
    group: str = "verifiers"
    # How long the broker keeps this worker's session (and queues its batches) while
    # it is disconnected.
    session_expiry_s: int = 3600
    keepalive_s: int = 30
    # The agents' mqtt.topic_prefix: both sides must use the same one.
    topic_prefix: str = DEFAULT_PREFIX

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def batch_subscription(self) -> str:
        return self.topics.shared(self.group, TopicKind.BATCH)


@dataclass(frozen=True)
class StoreConfig:
    path: Path = Path("verifier.sqlite")
    # "full": a stored verdict survives power loss; "normal": survives a crash of the
    # process (SIGKILL) but the last commits may be lost on power loss (WAL mode).
    synchronous: str = "full"
    busy_timeout_s: float = 30.0


@dataclass(frozen=True)
class VerifierConfig:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    # Prometheus endpoint on 127.0.0.1:<port>/metrics; 0 = none.
    metrics_port: int = 0
    # Enrolled gateways: gateway id -> the raw 32-byte Ed25519 public key given at
    # enrollment. Later keys come from signed rotations and live in the store.
    gateways: Mapping[str, bytes] = field(default_factory=dict)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be a table, got {type(value).__name__}")
    return value


def _unknown_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ConfigError(
            f"unknown key(s) in [{where}]: {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _int(table: Mapping[str, Any], key: str, default: int, where: str, low: int, high: int) -> int:
    value = table.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(f"{where}.{key} = {value!r}: expected an integer in [{low}, {high}]")
    return value


def _str(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} = {value!r}: expected a string")
    return value


def parse_public_key(text: object, where: str) -> bytes:
    """A raw Ed25519 public key written as 64 hex digits."""
    if not isinstance(text, str):
        raise ConfigError(f"{where} = {text!r}: expected 64 hex digits (a raw Ed25519 public key)")
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not hexadecimal") from None
    if len(raw) != 32:
        raise ConfigError(f"{where}: public key is {len(raw)} bytes; an Ed25519 key is 32 (64 hex digits)")
    return raw


def config_from_mapping(data: Mapping[str, Any], base_dir: Path | None = None) -> VerifierConfig:
    """Build the typed configuration; relative store paths are taken from ``base_dir``."""
    _unknown_keys(data, {"mqtt", "store", "metrics", "gateways"}, "top level")

    mqtt = _table(data, "mqtt", "")
    _unknown_keys(
        mqtt, {
            "host",
            "port",
            "protocol",
            "client_id",
            "group",
            "session_expiry_s",
            "keepalive_s",
            "topic_prefix",
        }, "mqtt"
    )
    defaults = MqttConfig()
    client_id = _str(mqtt, "client_id", defaults.client_id, "mqtt")
    if _CLIENT_ID_RE.fullmatch(client_id) is None:
        raise ConfigError(f"mqtt.client_id {client_id!r}: use 1 to 64 characters from A-Z a-z 0-9 _ . -")
    group = _str(mqtt, "group", defaults.group, "mqtt")
    if group and _GROUP_RE.fullmatch(group) is None:
        raise ConfigError(f"mqtt.group {group!r}: use 1 to 64 characters from A-Z a-z 0-9 _ - (or \"\")")
    protocol = _str(mqtt, "protocol", defaults.protocol, "mqtt")
    if protocol not in ("5", "3.1.1"):
        raise ConfigError(f'mqtt.protocol = {protocol!r}: use "5" or "3.1.1"')
    if protocol == "3.1.1" and group:
        raise ConfigError(
            f'mqtt.group = {group!r}: MQTT 3.1.1 has no shared subscriptions; set group = "" '
            "and run one worker, or use protocol \"5\""
        )
    topic_prefix = _str(mqtt, "topic_prefix", defaults.topic_prefix, "mqtt")
    try:
        check_prefix(topic_prefix)
    except TopicError as exc:
        raise ConfigError(f"mqtt.topic_prefix: {exc}") from None
    mqtt_config = MqttConfig(
        host=_str(mqtt, "host", defaults.host, "mqtt"),
        port=_int(mqtt, "port", defaults.port, "mqtt", 1, 65535),
        protocol=protocol,
        client_id=client_id,
        group=group,
        # MQTT 5 session expiry is a u32; 0xFFFFFFFF means "never expires".
        session_expiry_s=_int(mqtt, "session_expiry_s", defaults.session_expiry_s, "mqtt", 0, 2**32 - 1),
        keepalive_s=_int(mqtt, "keepalive_s", defaults.keepalive_s, "mqtt", 5, 65535),
        topic_prefix=topic_prefix,
    )

    store = _table(data, "store", "")
    _unknown_keys(store, {"path", "synchronous", "busy_timeout_s"}, "store")
    path = Path(_str(store, "path", str(StoreConfig.path), "store"))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    synchronous = _str(store, "synchronous", StoreConfig.synchronous, "store").lower()
    if synchronous not in _SYNCHRONOUS:
        raise ConfigError(f"store.synchronous = {synchronous!r}: choose one of {', '.join(_SYNCHRONOUS)}")
    busy = store.get("busy_timeout_s", StoreConfig.busy_timeout_s)
    if not isinstance(busy, (int, float)) or isinstance(busy, bool) or not 0 < busy <= 3600:
        raise ConfigError(f"store.busy_timeout_s = {busy!r}: expected seconds in (0, 3600]")
    store_config = StoreConfig(path=path, synchronous=synchronous, busy_timeout_s=float(busy))

    metrics = _table(data, "metrics", "")
    _unknown_keys(metrics, {"port"}, "metrics")
    metrics_port = _int(metrics, "port", 0, "metrics", 0, 65535)

    gateways_table = _table(data, "gateways", "")
    gateways: dict[str, bytes] = {}
    for gateway_id, key_text in gateways_table.items():
        if GATEWAY_ID_RE.fullmatch(gateway_id) is None:
            raise ConfigError(
                f"gateways.{gateway_id!r}: a gateway id is 1 to 64 characters from A-Z a-z 0-9 _ -"
            )
        gateways[gateway_id] = parse_public_key(key_text, f"gateways.{gateway_id}")
    return VerifierConfig(
        mqtt=mqtt_config, store=store_config, metrics_port=metrics_port, gateways=gateways
    )


def load_config(path: Path) -> VerifierConfig:
    """Read and check a verifier.toml; raises ConfigError with the file and key at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read verifier config {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return config_from_mapping(data, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
